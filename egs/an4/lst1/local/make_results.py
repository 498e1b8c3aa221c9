#!/usr/bin/env python3
"""ASR results of egs/an4/asr1 as rows for RESULTS.json (and a markdown table).

    python3 local/make_results.py --exp exp/asr_espnet_transformer_cpu_bpe30_sp --system espnet_asr \
        [--out_json exp/RESULTS.json] [--out_md exp/RESULTS.md]

For every ``<exp>/decode_<set>_<tag>/score.json`` (lst.bin.score_wer) one row
``{"system", "decode", "set", "wer", "cer", "params_m", "train_s", "rtf", "epochs"}``: WER/CER in
percent, parameters of the decoded checkpoint in millions, training wall seconds
(``<exp>/train_seconds``), decode real-time factor (``timing.json`` of espnet_asr_inference) and
the epochs trained (``checkpoint.pth``). Rows already in ``--out_json`` for other systems are kept.
"""
import argparse
import json
import re
from pathlib import Path

import torch

from lst.downstream.score import md_table

COLUMNS = ["system", "decode", "set", "wer", "cer", "params_m", "train_s", "rtf", "epochs"]


def params_m(exp: Path, model_file: str):
    path = exp / model_file
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu")
    return round(sum(v.numel() for v in state.values() if hasattr(v, "numel")) / 1e6, 2)


def epochs_done(exp: Path):
    ckpt = exp / "checkpoint.pth"
    if not ckpt.is_file():
        return None
    reporter = torch.load(ckpt, map_location="cpu", weights_only=False).get("reporter", {})
    return reporter.get("epoch")


def rows_for(exp: Path, system: str):
    train_s = int((exp / "train_seconds").read_text()) if (exp / "train_seconds").is_file() else None
    epochs = epochs_done(exp)
    rows = []
    for score_path in sorted(exp.glob("decode_*/score.json")):
        d = score_path.parent
        m = re.match(r"decode_(?P<set>[^_]+)_(?P<tag>.+)", d.name)
        if not m:
            continue
        score = json.loads(score_path.read_text())
        timing = json.loads((d / "timing.json").read_text()) if (d / "timing.json").is_file() else {}
        model_file = m["tag"].split("_")[-1] + ".pth"  # tags end in the checkpoint name, e.g. valid.acc.ave
        rows.append({"system": system, "decode": m["tag"], "set": m["set"], "wer": round(score["wer"], 2),
                     "cer": round(score["cer"], 2), "params_m": params_m(exp, model_file), "train_s": train_s,
                     "rtf": round(timing["rtf"], 4) if "rtf" in timing else None, "epochs": epochs})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, type=Path)
    p.add_argument("--system", default="espnet_asr")
    p.add_argument("--out_json", default="exp/RESULTS.json", type=Path)
    p.add_argument("--out_md", default="exp/RESULTS.md", type=Path)
    args = p.parse_args()
    rows = []
    if args.out_json.is_file():
        rows = [r for r in json.loads(args.out_json.read_text()) if r["system"] != args.system]
    rows += rows_for(args.exp, args.system)
    args.out_json.write_text(json.dumps(rows, indent=1) + "\n")
    table = md_table(COLUMNS, [[r.get(c) if r.get(c) is not None else "-" for c in COLUMNS] for r in rows])
    args.out_md.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
