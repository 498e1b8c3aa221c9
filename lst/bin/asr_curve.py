r"""WER against fine-tuning updates of downstream ASR runs (asr.sh stage 9; lst.downstream.curve).

    python -m lst.bin.asr_curve --exps "exp/asr_token_lm exp/asr_lst" --systems "token_lm lst" \
        --sets "dev test" --out_dir exp/asr_curve [--target_wer auto]

Reads ``<exp>/curve/decode_<set>_ep<N>/score.json`` (stage 9's greedy decodes of every kept
epoch checkpoint) and the runs' updates per epoch; writes ``curve.json`` (points + updates to
reach the target WER), ``curve.md`` and ``wer_vs_updates.png`` into ``--out_dir``.
``--target_wer auto``: per set, the worst final WER among the systems.
``--pick_set dev`` also writes ``<exp>/picked_checkpoint.json`` for each run: the fine-tuned
epoch with the lowest WER on that set (lst.downstream.curve.pick_checkpoint; asr.sh stage 10
decodes it).
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
    p.add_argument("--pick_set", default="", help="write <exp>/picked_checkpoint.json: the epoch with the lowest WER "
                                                  "on this (validation) set")
    args = p.parse_args(argv)
    from pathlib import Path

    from lst.downstream.curve import CurveError, curve_markdown, make_curve, pick_checkpoint, write_curve
    from lst.stage_io import write_json_atomic

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
    if args.pick_set:
        for exp, system in zip(args.exps.split(), args.systems.split()):
            try:
                pick = dict(pick_checkpoint(exp, args.pick_set), system=system)
            except CurveError as e:
                raise SystemExit(f"asr_curve: {e}")
            out = Path(exp) / "picked_checkpoint.json"
            write_json_atomic(out, pick)  # asr.sh stage 10 reads it
            print(f"{system}: epoch {pick['epoch']} ({pick['wer']} % WER on {args.pick_set}) -> {out}")
    print(curve_markdown(curve))
    print("\n".join(map(str, files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
