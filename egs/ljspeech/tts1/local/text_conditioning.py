#!/usr/bin/env python3
"""Summary of local/text_conditioning.sh: per model and set, the speech NLL (nats per unit) of the
t2s sequences with their own transcripts and with rotated ones, and the difference (what the text
tells the model about the units) -> <out_dir>/summary.{md,json}, the table also printed."""
import argparse
import json
import sys
from pathlib import Path


def summary_rows(out_dir: Path, models, sets):
    rows = []
    for m in models:
        path = out_dir / m / "RESULTS.json"
        if not path.is_file():
            raise SystemExit(f"{path}: missing (lst.bin.evaluate of {m} did not finish)")
        by_set = {r["set"]: r for r in json.loads(path.read_text()) if r["kind"] == "t2s"}
        for dset in sets:
            own, rot = by_set.get(dset), by_set.get(f"{dset}_rotated")
            if own is None or rot is None or own["speech_nll"] is None or rot["speech_nll"] is None:
                raise SystemExit(f"{path}: no t2s speech rows for {dset} and {dset}_rotated")
            rows.append({"model": m, "set": dset, "sequences": own["sequences"], "speech_units": own["speech_units"],
                         "speech_nll_own_text": round(own["speech_nll"], 4),
                         "speech_nll_rotated_text": round(rot["speech_nll"], 4),
                         "text_gain_nats_per_unit": round(rot["speech_nll"] - own["speech_nll"], 4)})
    return rows


def markdown(rows) -> str:
    lines = ["| model | set | sequences | units | speech NLL, own text | speech NLL, rotated text | text gain (nats/unit) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['set']} | {r['sequences']} | {r['speech_units']} | "
                     f"{r['speech_nll_own_text']:.3f} | {r['speech_nll_rotated_text']:.3f} | "
                     f"{r['text_gain_nats_per_unit']:+.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out_dir", required=True, type=Path)
    p.add_argument("--models", required=True, help="space-separated")
    p.add_argument("--sets", required=True, help="space-separated")
    args = p.parse_args(argv)
    rows = summary_rows(args.out_dir, args.models.split(), args.sets.split())
    table = markdown(rows)
    (args.out_dir / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out_dir / "summary.md").write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
