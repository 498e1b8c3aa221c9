#!/usr/bin/env python3
"""Spoken-LM benchmarks by unit set (stage 10, local/units_slm.sh): the rocstories sweep's
per-item benchmark scores of models that differ only in their units, side by side.

    python3 local/units_slm_results.py --runs mfcc_25hz_km100=../../rocstories/lst1/exp/sweep_f4e13 \
        it1_small_s3600_l4_25hz_km100=../../rocstories/lst1/exp/sweep_f4e13_<unit_tag> \
        --reference mfcc_25hz_km100 --sizes xs s --classes token_lm lst_static --out_md exp/units_slm/RESULTS.md \
        --out_json exp/units_slm/RESULTS.json

Each run directory is a ``local/sweep.sh`` output (``<size>/<class>_flops/eval/bench_scores.jsonl``:
one line per item and mode with ``correct_raw`` / ``correct_norm``). Scoring rule: the paper's
token-normalised log-likelihood (``correct_norm``) is the headline; the summed one is kept in the
JSON. Accuracies get Wilson 95 % intervals; every other unit set is compared with
``--reference`` on the same items by a paired bootstrap (``lst.eval.stats.paired_difference``).
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

from lst.eval.benchmark import BenchmarkFormatError, json_objects
from lst.eval.stats import accuracy_summary, paired_difference
from lst.stage_io import write_json_atomic

BENCHMARKS = ("blimp", "sc", "tsc", "hellaswag")


def read_scores(path: Path) -> Dict[str, Dict[str, dict]]:
    """bench_scores.jsonl -> {"<benchmark>/<mode>": {item id: line}}; names the file and line on error."""
    out: Dict[str, Dict[str, dict]] = defaultdict(dict)
    try:
        for where, r in json_objects(path):
            key, item = f"{r['benchmark']}/{r['mode']}", r["id"]
            r["correct_raw"], r["correct_norm"] = float(r["correct_raw"]), float(r["correct_norm"])
            if item in out[key]:
                raise SystemExit(f"units_slm_results: {where}: duplicate item {item} in {key}")
            out[key][item] = r
    except BenchmarkFormatError as e:
        raise SystemExit(f"units_slm_results: {e}")
    except (KeyError, TypeError, ValueError) as e:
        raise SystemExit(f"units_slm_results: {where}: not a benchmark score line ({e!r})")
    return out


def compare(scores: Dict[str, Dict[str, Dict[str, dict]]], reference: str, modes: List[str]) -> List[dict]:
    """{unit set: read_scores(...)} of one size and class -> one row per unit set, benchmark and mode."""
    rows = []
    ref = scores[reference]
    keys = sorted({k for by_key in scores.values() for k in by_key},
                  key=lambda k: (BENCHMARKS.index(k.split("/")[0]) if k.split("/")[0] in BENCHMARKS else 99, k))
    for key in keys:
        bench, mode = key.split("/")
        if mode not in modes:
            continue
        for units, by_key in scores.items():
            if key not in by_key:
                continue
            items = by_key[key]
            row = {"units": units, "benchmark": bench, "mode": mode}
            for rule in ("norm", "raw"):
                s = accuracy_summary([it[f"correct_{rule}"] for it in items.values()])
                row[f"acc_{rule}"], row[f"ci95_{rule}"], row["n"] = s["accuracy"], s["ci95"], s["n"]
            if units != reference:
                if key not in ref or set(ref[key]) != set(items):
                    raise SystemExit(f"units_slm_results: {units} and {reference} scored different {key} items "
                                     "(the benchmarks must be built from the same texts)")
                ids = sorted(items)
                for rule in ("norm", "raw"):
                    d = paired_difference([items[i][f"correct_{rule}"] for i in ids],
                                          [ref[key][i][f"correct_{rule}"] for i in ids])
                    row[f"diff_{rule}"], row[f"diff_ci95_{rule}"] = d["difference"], d["ci95"]
            rows.append(row)
    return rows


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown(rows: List[dict], reference: str) -> str:
    lines = ["| size | model | benchmark | mode | units | accuracy % [95 % CI] (token-normalised) | "
             f"minus {reference}, points [paired 95 % CI] | summed-LL accuracy % |", "|---|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        ci = r["ci95_norm"]
        diff = "-" if "diff_norm" not in r else (
            f"{100 * r['diff_norm']:+.1f} [{100 * r['diff_ci95_norm'][0]:+.1f}, {100 * r['diff_ci95_norm'][1]:+.1f}]")
        lines.append(f"| {r['size']} | {r['model']} | {r['benchmark']} | {r['mode']} | {r['units']} | "
                     f"{pct(r['acc_norm'])} [{pct(ci[0])}, {pct(ci[1])}] | {diff} | {pct(r['acc_raw'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="UNITS=SWEEP_DIR (one per unit set)")
    p.add_argument("--reference", required=True, help="the UNITS name the others are compared with")
    p.add_argument("--sizes", nargs="+", default=["xs", "s"])
    p.add_argument("--classes", nargs="+", default=["token_lm", "lst_static"])
    p.add_argument("--modes", nargs="+", default=["S->S"], help="benchmark modes to report (S->S, T->T, ...)")
    p.add_argument("--out_md", required=True)
    p.add_argument("--out_json", required=True)
    args = p.parse_args(argv)
    runs = {}
    for spec in args.runs:
        name, sep, d = spec.partition("=")
        if not sep or not name or not d:
            raise SystemExit(f"units_slm_results: --runs wants UNITS=SWEEP_DIR, got {spec!r}")
        if name in runs:
            raise SystemExit(f"units_slm_results: unit set {name} given twice")
        runs[name] = Path(d)
    if args.reference not in runs:
        raise SystemExit(f"units_slm_results: --reference {args.reference} is not one of --runs ({', '.join(runs)})")
    rows = []
    for size in args.sizes:
        for cls in args.classes:
            scores = {}
            for name, d in runs.items():
                f = d / size / f"{cls}_flops" / "eval" / "bench_scores.jsonl"
                if not f.exists():
                    raise SystemExit(f"units_slm_results: {f} not found (the sweep of {name} has not scored "
                                     f"{size}/{cls}; run local/units_slm.sh)")
                scores[name] = read_scores(f)
            for r in compare(scores, args.reference, args.modes):
                rows.append({"size": size, "model": cls, **r})
    Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_md).write_text(markdown(rows, args.reference), encoding="utf-8")
    write_json_atomic(args.out_json, rows)
    print(markdown(rows, args.reference), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
