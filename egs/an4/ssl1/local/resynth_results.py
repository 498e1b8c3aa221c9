#!/usr/bin/env python3
"""Table of the resynthesis comparison (local/resynth.sh, run.sh stage 9).

    python3 local/resynth_results.py --runs it0_mfcc_km100,exp/resynth/it0_mfcc_km100 ... \
        --original exp/resynth/original/pocketsphinx/score.json \
        --out_json exp/resynth/RESULTS.json --out_md exp/resynth/RESULTS_table.md [--merge_into RESULTS.json]

Each run directory holds ``settings.json`` (written by the stage: vocoder options, Griffin-Lim
iterations, unit rate/count, clip counts), ``vocoder/train_info.json`` (lst.bin.train_vocoder:
steps, final L1, training seconds), ``pocketsphinx/score.json`` (lst.bin.recognize on the
resynthesized test clips) and ``wall_seconds`` (``step seconds`` lines). A missing file is an
error naming it. One row per unit set plus the row ``original`` (the recordings themselves).

``--merge_into`` adds ``resynth_wer`` / ``resynth_cer`` and the vocoder's steps, final L1 and
training seconds (``resynth_vocoder_*``), and the recordings' WER on the same clips
(``resynth_original_wer``), to every row of that unit set in the recipe's RESULTS.json (rows
keyed by ``units``); a unit set it does not have yet gets a row of its own.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List

from lst.eval.results import add_columns


class ResultsError(Exception):
    """A run without one of its files (the message names it)."""


def read_json(path: Path) -> Dict:
    if not path.is_file():
        raise ResultsError(f"{path}: not found (stage 9 did not finish this step)")
    return json.loads(path.read_text())


def score_fields(score: Dict) -> Dict:
    return {"wer": round(score["wer"], 2), "cer": round(score["cer"], 2), "sub": score["sub"], "del": score["del"],
            "ins": score["ins"], "n_utts": score["n_utts"], "n_words": score["n_words"],
            "skipped": score.get("skipped", 0), "speech_s": round(score["audio_seconds"], 1),
            "recognizer_rtf": round(score["rtf"], 3)}


def read_wall(path: Path) -> Dict[str, float]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            step, sec = line.split()
            out[step] = float(sec)  # a re-run step: its last time
    return out


def run_row(units: str, run_dir: Path) -> Dict:
    settings = read_json(run_dir / "settings.json")
    info = read_json(run_dir / "vocoder" / "train_info.json")
    score = read_json(run_dir / "pocketsphinx" / "score.json")
    row = {"units": units, **score_fields(score),
           "vocoder_steps": info["steps"], "vocoder_final_l1": round(info["final_l1"], 4),
           "vocoder_initial_l1": round(info["initial_l1"], 4), "vocoder_train_s": round(info["train_seconds"], 1),
           "vocoder_params": info["params"], "vocoder_train_utts": info["n_utts"],
           "vocoder_train_frames": info["n_frames"], **settings}
    row.update({f"wall_s_{k}": v for k, v in read_wall(run_dir / "wall_seconds").items()})
    return row


def table(rows: List[Dict]) -> str:
    head = ("| units | WER | CER | sub / del / ins | clips | words | vocoder steps | final L1 | vocoder train s "
            "| vocoder wall s | resynth wall s | recognizer RTF |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        def get(k):
            v = r.get(k)
            return "-" if v is None else str(v)
        lines.append(f"| {r['units']} | {r['wer']:.2f} | {r['cer']:.2f} | {r['sub']} / {r['del']} / {r['ins']} "
                     f"| {r['n_utts']} | {r['n_words']} | {get('vocoder_steps')} | {get('vocoder_final_l1')} "
                     f"| {get('vocoder_train_s')} | {get('wall_s_vocoder')} | {get('wall_s_resynth')} "
                     f"| {r['recognizer_rtf']} |")
    return head + "\n".join(lines) + "\n"


def merge(results_rows: List[Dict], rows: List[Dict]) -> List[Dict]:
    """Add each unit set's resynthesis numbers to its rows of the recipe's RESULTS.json."""
    original = next((r for r in rows if r["units"] == "original"), None)
    out = [dict(r) for r in results_rows]
    for r in rows:
        if r["units"] == "original":
            continue
        add = {"resynth_wer": r["wer"], "resynth_cer": r["cer"], "resynth_eval_set": r.get("eval_set"),
               "resynth_n_utts": r["n_utts"], "resynth_vocoder_steps": r["vocoder_steps"],
               "resynth_vocoder_final_l1": r["vocoder_final_l1"], "resynth_vocoder_train_s": r["vocoder_train_s"]}
        if original is not None:
            add["resynth_original_wer"] = original["wer"]
        add_columns(out, "units", r["units"], add)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="UNITS,RUN_DIR")
    p.add_argument("--original", default=None, help="score.json of the original recordings")
    p.add_argument("--eval_set", default="", help="a name of the scored clips, stored in the rows")
    p.add_argument("--out_json", required=True)
    p.add_argument("--out_md", required=True)
    p.add_argument("--merge_into", default=None, help="the recipe's RESULTS.json (rows keyed by units)")
    args = p.parse_args(argv)
    try:
        rows = []
        if args.original:
            rows.append({"units": "original", **score_fields(read_json(Path(args.original)))})
        for spec in args.runs:
            if "," not in spec:
                raise ResultsError(f"--runs {spec}: expected UNITS,RUN_DIR")
            units, run_dir = spec.split(",", 1)
            rows.append(run_row(units, Path(run_dir)))
    except ResultsError as e:
        sys.exit(f"resynth_results.py: {e}")
    if args.eval_set:
        for r in rows:
            r["eval_set"] = args.eval_set
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps(rows, indent=1) + "\n")
    Path(args.out_md).write_text(table(rows))
    if args.merge_into:
        path = Path(args.merge_into)
        merged = merge(json.loads(path.read_text()) if path.is_file() else [], rows)
        path.write_text(json.dumps(merged, indent=1) + "\n")
        print(f"resynth_results.py: merged into {path}")


if __name__ == "__main__":
    main()
