r"""Pick the joint-decoding CTC weight on a validation set (asr.sh stage 10, ``--pick_ctc_weights``).

    python -m lst.bin.pick_ctc_weight --decodes "0.3:exp/asr_x/ctc_weight/decode_dev_joint_w0.3_ep9 0.5:..." \
        --set dev --out exp/asr_x/picked_ctc_weight.json

Each decode dir holds asr_inference's ``score.json``. Writes ``--out`` (the picked weight, its WER
and CER, and every weight tried; lst.downstream.curve.pick_ctc_weight) and prints the weight.
Items ``<weight>,<length bonus>:<dir>`` (asr.sh ``--pick_length_bonuses``) pick the pair, and print
"<weight> <bonus>".
"""
import argparse
import sys


def parse_decodes(text: str):
    """'0.3:dir 0.5:dir' -> [(0.3, Path(dir)), (0.5, Path(dir))]; '0.3,1.0:dir' -> [(0.3, 1.0, Path(dir))]
    (with a length bonus; every item then needs one); a bad item raises ValueError naming it."""
    from pathlib import Path

    out = []
    for item in text.split():
        setting, sep, d = item.partition(":")
        w, comma, b = setting.partition(",")
        try:
            weight = float(w)
            bonus = float(b) if comma else None
        except ValueError:
            weight = bonus = None
        if not sep or not d or weight is None or not 0.0 <= weight <= 1.0 or comma and bonus is None:
            raise ValueError(f"--decodes: '{item}' is not <weight in [0, 1]>[,<length bonus>]:<decode dir>")
        out.append((weight, Path(d)) if bonus is None else (weight, bonus, Path(d)))
    if len({len(x) for x in out}) > 1:
        raise ValueError(f"--decodes: give a length bonus with every item or with none, in '{text}'")
    if len({x[:-1] for x in out}) != len(out):
        raise ValueError(f"--decodes: a setting is listed twice in '{text}'")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decodes", required=True, help="'<weight>:<decode dir> ...', space separated")
    p.add_argument("--set", default="", help="name of the validation set (recorded in --out)")
    p.add_argument("--out", required=True, help="JSON file written")
    args = p.parse_args(argv)
    from lst.downstream.curve import CurveError, pick_ctc_weight
    from lst.stage_io import write_json_atomic

    try:
        pick = pick_ctc_weight(parse_decodes(args.decodes), args.set)
    except (ValueError, CurveError) as e:
        raise SystemExit(f"pick_ctc_weight: {e}")
    write_json_atomic(args.out, pick)
    for t in pick["tried"]:
        bonus = f", length bonus {t['length_bonus']}" if "length_bonus" in t else ""
        print(f"CTC weight {t['ctc_weight']}{bonus}: WER {t['wer']:.2f} CER {t['cer']:.2f} on {args.set or 'the set'}",
              file=sys.stderr)
    # the bonus as listed ("2", not "2.0"): asr.sh names the decode dirs by it
    print(pick["ctc_weight"], *([f"{pick['length_bonus']:g}"] if "length_bonus" in pick else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
