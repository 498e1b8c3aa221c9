#!/usr/bin/env python3
r"""Table of the units -> text ASR runs of run.sh stage 8 (one row per unit set and seed).

    python3 local/units_asr_results.py --runs it0_mfcc_km100,0,exp/units_asr_it0_..._seed0 ... \
        --sets "valid an4_test" --out_json exp/units_asr/RESULTS.json --out_md exp/units_asr/RESULTS_table.md \
        [--merge_into RESULTS.json --test_set an4_test]

Each run directory is an lst_train or ESPnet MT trainer run (both are ESPnet's Trainer):
epochs, updates, training seconds (the epochs' train + valid times) and the dev-picked epoch come from ``lst.downstream.results.finetune_run_info``
(the summary the downstream recipes' tables use); ``train_seconds`` holds the wall clock of
each finished training call, ``decode_<set>_<mode>/score.json`` the decodes, with
``decode_info.json`` (asr_inference) or ``timing.json`` (lst.bin.espnet_mt_inference; the
parameters are then counted in the decoded checkpoint). A run without a decode of a set is an
error naming the directory.

``--merge_into`` adds ``asr_wer`` / ``asr_cer`` (``--mode`` greedy, test set, mean over seeds;
``--prefix espnet_asr --mode beam10_ctc0.3`` names the ESPnet model's columns), the
per-seed values and the other beam results to every row of that unit set in the recipe's
RESULTS.json (rows keyed by ``units``), and adds a row for a unit set it does not have yet.
"""
import argparse
import json
import re
import sys
from pathlib import Path
from statistics import mean
from typing import Dict, List

from lst.downstream.results import finetune_run_info
from lst.eval.results import add_columns
from lst.stage_io import atomic_open

MODES_RE = re.compile(r"^decode_(?P<set>.+)_(?P<mode>greedy|beam\d+(?:_ctc[0-9.]+)?)$")
# the checkpoints an ESPnet decode may have used, in the order ESPnet's recipes prefer them
ESPNET_MODELS = ("valid.acc.ave.pth", "valid.loss.best.pth", "valid.acc.best.pth")


def checkpoint_params(run: Path) -> int:
    """Parameters of a run's decoded model, counted in its state dict (ESPnet decodes)."""
    import torch

    for name in ESPNET_MODELS:
        if (run / name).is_file():
            state = torch.load(run / name, map_location="cpu", weights_only=True)
            return int(sum(v.numel() for v in state.values()))
    raise ValueError(f"{run}: none of {', '.join(ESPNET_MODELS)} (no trained model to count)")


def run_row(units: str, seed: int, run: Path, sets: List[str]) -> Dict:
    log = run / "train.log"
    if not log.is_file():
        raise ValueError(f"{run}: no train.log (stage 8 has not trained this run)")
    info = finetune_run_info(run)
    row = {"units": units, "seed": seed, "run": str(run), "epochs": info["epochs"], "updates": info["updates"],
           "epoch_seconds": info["train_s"], "best_epoch": info["best_epoch"]}
    secs = run / "train_seconds"  # wall clock of each completed lst_train call (start-up included)
    row["wall_seconds"] = sum(int(x) for x in secs.read_text().split()) if secs.is_file() else None
    for dset in sets:
        found = False
        for d in sorted(run.glob(f"decode_{dset}_*")):
            mm = MODES_RE.match(d.name)
            if not d.is_dir() or not mm or mm.group("set") != dset:
                continue
            score = json.loads((d / "score.json").read_text())
            mode = mm.group("mode")
            row[f"{dset}_{mode}_wer"] = round(score["wer"], 2)
            row[f"{dset}_{mode}_cer"] = round(score["cer"], 2)
            if (d / "decode_info.json").is_file():  # asr_inference
                summary = json.loads((d / "decode_info.json").read_text())["summary"]
                row[f"{dset}_{mode}_failed"] = summary["n_failed"]
                row["params"] = summary["params"]
                row[f"{dset}_{mode}_rtf"] = round(summary["rtf_total"], 4)
            else:  # ESPnet's decoder: a reference without hypothesis is a failed utterance
                row[f"{dset}_{mode}_failed"] = score["missing"]
                row.setdefault("params", checkpoint_params(run))
            found = True
        if not found:
            raise ValueError(f"{run}: no decode_{dset}_* (stage 8 decodes it)")
    return row


def md(rows: List[Dict], sets: List[str]) -> str:
    modes = sorted({k[len(s) + 1:-len("_wer")] for r in rows for k in r for s in sets
                    if k.startswith(s + "_") and k.endswith("_wer")}, key=lambda m: (m != "greedy", m))
    cols = [(f"{s}_{m}", f"{s} {m} WER / CER") for s in sets for m in modes]
    head = ["units", "seed", "params (M)", "updates", "epochs (best)", "train s"] + [c[1] for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["units"], str(r["seed"]), f"{r.get('params', 0) / 1e6:.2f}", str(r["updates"]),
                 f"{r['epochs']} ({r['best_epoch']})", f"{r['epoch_seconds']:.0f}"]
        cells += [f"{r[k + '_wer']:.2f} / {r[k + '_cer']:.2f}" if k + "_wer" in r else "-" for k, _ in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def merge(results_rows: List[Dict], asr_rows: List[Dict], test_set: str, prefix: str = "asr",
          mode: str = "greedy") -> List[Dict]:
    """Add the ASR numbers of each unit set to its rows of the recipe's RESULTS.json: the
    ``mode`` decode of ``test_set`` as ``<prefix>_wer`` / ``_cer``, other beams as ``<prefix>_wer_<beam>``."""
    by_units: Dict[str, List[Dict]] = {}
    for r in asr_rows:
        by_units.setdefault(r["units"], []).append(r)
    out = [dict(r) for r in results_rows]
    for units, runs in by_units.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        key = f"{test_set}_{mode}"
        if any(key + "_wer" not in r for r in runs):
            raise ValueError(f"{units}: a run has no {mode} decode of {test_set}")
        add = {f"{prefix}_wer": round(mean(r[key + "_wer"] for r in runs), 2),
               f"{prefix}_cer": round(mean(r[key + "_cer"] for r in runs), 2),
               f"{prefix}_wer_seeds": [r[key + "_wer"] for r in runs],
               f"{prefix}_cer_seeds": [r[key + "_cer"] for r in runs],
               f"{prefix}_seeds": [r["seed"] for r in runs], f"{prefix}_eval_set": test_set, f"{prefix}_decode": mode,
               f"{prefix}_updates": runs[0]["updates"], f"{prefix}_params": runs[0].get("params")}
        beams = sorted({k[len(test_set) + 1:-4] for r in runs for k in r
                        if k.startswith(test_set + "_beam") and k.endswith("_wer")} - {mode})
        for b in beams:
            if all(f"{test_set}_{b}_wer" in r for r in runs):
                add[f"{prefix}_wer_{b}"] = round(mean(r[f"{test_set}_{b}_wer"] for r in runs), 2)
                add[f"{prefix}_cer_{b}"] = round(mean(r[f"{test_set}_{b}_cer"] for r in runs), 2)
        add_columns(out, "units", units, add, drop=(f"{prefix}_wer_note",))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="UNITS,SEED,RUN_DIR per run")
    p.add_argument("--sets", required=True, help="decoded sets, e.g. 'valid an4_test'")
    p.add_argument("--out_json", required=True)
    p.add_argument("--out_md", required=True)
    p.add_argument("--merge_into", default=None, help="the recipe's RESULTS.json (rows keyed by units)")
    p.add_argument("--test_set", default="an4_test", help="the set whose WER becomes asr_wer")
    p.add_argument("--prefix", default="asr", help="column prefix of the merged numbers (asr, espnet_asr)")
    p.add_argument("--mode", default="greedy", help="the decode that becomes <prefix>_wer (greedy, beam10_ctc0.3)")
    args = p.parse_args(argv)
    sets = args.sets.split()
    try:
        rows = []
        for spec in args.runs:
            parts = spec.split(",", 2)
            if len(parts) != 3:
                raise ValueError(f"--runs {spec!r}: expected UNITS,SEED,RUN_DIR")
            rows.append(run_row(parts[0], int(parts[1]), Path(parts[2]), sets))
        # renamed into place: two stage-8 calls finishing together leave one whole table each time
        with atomic_open(args.out_json) as f:
            f.write(json.dumps(rows, indent=1) + "\n")
        with atomic_open(args.out_md) as f:
            f.write(md(rows, sets))
        if args.merge_into:
            target = Path(args.merge_into)
            merged = merge(json.loads(target.read_text()), rows, args.test_set, args.prefix, args.mode)
            with atomic_open(target) as f:
                f.write(json.dumps(merged, indent=1) + "\n")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"units_asr_results: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
