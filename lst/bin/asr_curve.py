r"""WER against fine-tuning updates of downstream ASR runs (asr.sh stage 9; lst.downstream.curve).

    python -m lst.bin.asr_curve --exps "exp/asr_token_lm exp/asr_lst" --systems "token_lm lst" \
        --sets "dev test" --out_dir exp/asr_curve [--target_wer auto]

Reads ``<exp>/curve/decode_<set>_ep<N>/score.json`` (stage 9's greedy decodes of every kept
epoch checkpoint) and the runs' updates per epoch; writes ``curve.json`` (points + updates to
reach the target WER), ``curve.md`` and ``wer_vs_updates.png`` into ``--out_dir``.
``--target_wer auto``: per set, the worst final WER among the systems.
"""
import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exps", required=True, help="fine-tuning run dirs, space separated")
    p.add_argument("--systems", required=True, help="their names in the table, space separated")
    p.add_argument("--sets", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--target_wer", default="auto", help="WER in %%, or auto (the worst final WER per set)")
    args = p.parse_args(argv)
    from lst.downstream.curve import CurveError, curve_markdown, make_curve, write_curve

    if args.target_wer != "auto":
        try:
            float(args.target_wer)
        except ValueError:
            p.error(f"--target_wer must be a number or auto, got {args.target_wer!r}")
    try:
        curve = make_curve(args.exps.split(), args.systems.split(), args.sets.split(), args.target_wer)
    except CurveError as e:
        raise SystemExit(f"asr_curve: {e}")
    files = write_curve(curve, args.out_dir)
    print(curve_markdown(curve))
    print("\n".join(map(str, files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
