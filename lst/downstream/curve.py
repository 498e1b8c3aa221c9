"""WER against fine-tuning updates (asr.sh stage 9; command line ``lst.bin.asr_curve``).

A fine-tuning run (``exp/asr_<m>``) keeps its epoch checkpoints ``<N>epoch.pth`` (ESPnet's
trainer with ``keep_nbest_models >= max_epoch``); stage 9 decodes each of them greedy (or by
the CTC head, ``--curve_decode ctc``) into
``<exp>/curve/decode_<set>_ep<N>/`` (``ep0``: the pretrained backbone before fine-tuning).
This module turns those decodes into points ``(updates, WER, CER)``, where updates = N x the
run's optimizer updates per epoch (:func:`updates_per_epoch`), and answers how many updates
each model needs to reach a fixed WER (:func:`updates_to_reach`).
"""
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

EPOCH_CKPT = re.compile(r"^(\d+)epoch\.pth$")
DECODE_DIR = re.compile(r"^decode_(?P<set>.+)_ep(?P<epoch>\d+)$")
N_BATCH = re.compile(r"\[train\] mini-batch sizes summary: N-batch=(\d+)")


class CurveError(ValueError):
    """A fine-tuning run or its curve decodes cannot give the curve (one line, names the file)."""


def epoch_checkpoints(exp) -> List[Tuple[int, Path]]:
    """[(N, <exp>/<N>epoch.pth)] sorted by N."""
    found = []
    for p in Path(exp).iterdir():
        m = EPOCH_CKPT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def updates_per_epoch(exp) -> int:
    """Optimizer updates per epoch of a fine-tuning run: ``num_iters_per_epoch`` of its
    config.yaml if set, else the number of training batches the trainer logged (the last
    ``[train] mini-batch sizes summary: N-batch=K`` of train.log, so a resumed run counts its
    latest sampler), divided by ``accum_grad`` (rounded up)."""
    exp = Path(exp)
    cfg_path = exp / "config.yaml"
    if not cfg_path.is_file():
        raise CurveError(f"{cfg_path}: not found (is {exp} a fine-tuning run?)")
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    accum = int(cfg.get("accum_grad") or 1)
    batches = cfg.get("num_iters_per_epoch")
    if not batches:
        log = exp / "train.log"
        hits = N_BATCH.findall(log.read_text(encoding="utf-8", errors="replace")) if log.is_file() else []
        if not hits:
            raise CurveError(f"{log}: no '[train] mini-batch sizes summary: N-batch=' line and no "
                             f"num_iters_per_epoch in {cfg_path}: cannot count updates per epoch")
        batches = int(hits[-1])
    return math.ceil(int(batches) / accum)


def curve_points(exp, dset: str) -> List[Dict]:
    """The decoded points of one run on one set, sorted by epoch:
    [{"epoch", "updates", "wer", "cer", "n_utts"}]. A decode dir without score.json is an
    unfinished decode and is an error (re-run stage 9; it resumes)."""
    exp = Path(exp)
    per_epoch = updates_per_epoch(exp)
    points = []
    curve = exp / "curve"
    for d in sorted(curve.iterdir()) if curve.is_dir() else []:
        m = DECODE_DIR.match(d.name)
        if not m or m.group("set") != dset:
            continue
        score = d / "score.json"
        if not score.is_file():
            raise CurveError(f"{score}: missing (an unfinished decode; re-run asr.sh stage 9)")
        s = json.loads(score.read_text())
        ep = int(m.group("epoch"))
        points.append({"epoch": ep, "updates": ep * per_epoch, "decode": decode_kind(d),
                       "wer": round(float(s["wer"]), 2), "cer": round(float(s["cer"]), 2),
                       "n_utts": int(s["n_utts"])})
    return sorted(points, key=lambda p: p["epoch"])


def decode_kind(decode_dir: Path) -> str:
    """"ctc" for a decode by the model's CTC head (asr_inference --ctc), else "greedy"."""
    info = Path(decode_dir) / "decode_info.json"
    try:
        summary = json.loads(info.read_text()).get("summary", {})
    except (OSError, ValueError):
        return "greedy"
    return "ctc" if summary.get("ctc") else "greedy"


def decode_label(curve: Dict) -> str:
    return ", ".join(dict.fromkeys(r.get("decode", "greedy") for r in curve["rows"])) or "greedy"


def updates_to_reach(points: Sequence[Dict], target: float) -> Optional[int]:
    """Updates of the first decoded checkpoint whose WER is at or below ``target`` (None: never).
    The curve is sampled once per epoch, so this is an upper bound at epoch resolution."""
    for p in sorted(points, key=lambda p: p["updates"]):
        if p["wer"] <= target:
            return p["updates"]
    return None


def resolve_target(curves: Dict[str, List[Dict]], target) -> float:
    """``target`` as a number; ``"auto"``: the worst final WER among the models (the last
    decoded epoch of each), i.e. the level every model reaches, so each gets a count."""
    if str(target) != "auto":
        return float(target)
    finals = [pts[-1]["wer"] for pts in curves.values() if pts]
    if not finals:
        raise CurveError("no decoded points to choose an automatic target WER from")
    return max(finals)


def make_curve(exps: Sequence[str], systems: Sequence[str], sets: Sequence[str], target="auto") -> Dict:
    """{"rows": [...], "reach": [...]} for the given runs: rows are one per (system, set,
    epoch); reach one per (system, set) with the target WER of that set."""
    if len(exps) != len(systems):
        raise CurveError(f"{len(exps)} runs but {len(systems)} system names")
    rows, reach = [], []
    for dset in sets:
        curves = {sys: curve_points(exp, dset) for exp, sys in zip(exps, systems)}
        empty = [s for s, pts in curves.items() if not pts]
        if empty:
            raise CurveError(f"no curve decodes of set '{dset}' for {', '.join(empty)} (asr.sh stage 9 makes them)")
        tgt = resolve_target(curves, target)
        for sys, pts in curves.items():
            rows += [dict(system=sys, set=dset, **p) for p in pts]
            best = min(pts, key=lambda p: (p["wer"], p["updates"]))
            reach.append({"system": sys, "set": dset, "target_wer": tgt, "target": str(target),
                          "updates_to_reach": updates_to_reach(pts, tgt), "final_wer": pts[-1]["wer"],
                          "final_updates": pts[-1]["updates"], "best_wer": best["wer"],
                          "best_updates": best["updates"]})
    return {"rows": rows, "reach": reach}


PICK_RULE = "lowest WER on the set among the fine-tuned epochs (not epoch 0); the later epoch on a tie"


def pick_checkpoint(exp, dset: str) -> Dict:
    """The fine-tuned checkpoint with the lowest WER on ``dset`` (a validation set) among the
    run's curve decodes, the later epoch on a tie: ESPnet picks by validation accuracy or loss,
    but a CTC head keeps improving long after the attention loss has turned, so its own
    validation WER is the better criterion (asr.sh stage 10)."""
    points = [p for p in curve_points(exp, dset) if p["epoch"] > 0]
    if not points:
        raise CurveError(f"{Path(exp) / 'curve'}: no decodes of set '{dset}' past epoch 0 (asr.sh stage 9 "
                         f"with --curve_sets including {dset} makes them)")
    ranked = sorted(points, key=lambda p: (p["wer"], -p["epoch"]))
    best = ranked[0]
    # every epoch in the same order: the n best of them are what --pick_average N averages
    ranking = [{"epoch": p["epoch"], "wer": p["wer"], "checkpoint": str(Path(exp) / f"{p['epoch']}epoch.pth")}
               for p in ranked]
    return {"set": dset, "epoch": best["epoch"], "updates": best["updates"], "wer": best["wer"],
            "decode": best["decode"], "checkpoint": ranking[0]["checkpoint"], "rule": PICK_RULE,
            "ranking": ranking}


def pick_ctc_weight(decodes: Sequence[Tuple], dset: str = "") -> Dict:
    """The joint-decoding CTC weight with the lowest WER among ``decodes`` = [(weight, decode dir
    holding score.json)] of one checkpoint on a validation set (asr.sh stage 10,
    ``--pick_ctc_weights``); ties go to the lower CER, then to the weight listed first. The
    weight ESPnet's an4 recipe uses (0.3) was tuned for its attention decoder; a CTC head fine-tuned
    on a backbone, with or without an adapter, can want another. Items (weight, length bonus, dir)
    pick the pair (``--pick_length_bonuses``), as ESPnet's recipes tune --ctc_weight with --penalty;
    the result then has "length_bonus" too."""
    if not decodes:
        raise CurveError("no CTC weights to pick from")
    tried = []
    for item in decodes:
        w, d = item[0], item[-1]
        score = Path(d) / "score.json"
        if not score.is_file():
            raise CurveError(f"{score}: missing (an unfinished decode; re-run asr.sh stage 10)")
        s = json.loads(score.read_text())
        row = {"ctc_weight": float(w), "wer": float(s["wer"]), "cer": float(s["cer"]), "decode": str(d)}
        if len(item) == 3:
            row["length_bonus"] = float(item[1])
        tried.append(row)
    best = min(range(len(tried)), key=lambda i: (tried[i]["wer"], tried[i]["cer"], i))
    out = {"set": dset, "ctc_weight": tried[best]["ctc_weight"], "wer": tried[best]["wer"],
           "cer": tried[best]["cer"], "tried": tried,
           "rule": "lowest WER on the validation set, then lowest CER, then the first listed"}
    if "length_bonus" in tried[best]:
        out["length_bonus"] = tried[best]["length_bonus"]
    return out


def plot_curve(curve: Dict, out_png) -> None:
    """One panel per set: WER against fine-tuning updates, one line per system, the target WER dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(r["set"] for r in curve["rows"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4), squeeze=False)
    for ax, dset in zip(axes[0], sets):
        for sys in dict.fromkeys(r["system"] for r in curve["rows"]):
            pts = [r for r in curve["rows"] if r["set"] == dset and r["system"] == sys]
            ax.plot([p["updates"] for p in pts], [p["wer"] for p in pts], marker="o", ms=3, label=sys)
        tgt = next(r["target_wer"] for r in curve["reach"] if r["set"] == dset)
        ax.axhline(tgt, ls="--", c="grey", lw=1, label=f"target {tgt:.1f} %")
        ax.set_xlabel("fine-tuning updates")
        ax.set_ylabel(f"WER (%), {decode_label(curve)}")
        ax.set_title(f"{dset}")
        ax.set_ylim(0, min(150, max(r["wer"] for r in curve["rows"] if r["set"] == dset) * 1.05 + 1))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def curve_markdown(curve: Dict) -> str:
    from lst.downstream.score import md_table

    systems = list(dict.fromkeys(r["system"] for r in curve["rows"]))
    sets = list(dict.fromkeys(r["set"] for r in curve["rows"]))
    label = decode_label(curve)
    text = (f"# WER against fine-tuning updates ({label})\n\n"
            f"Each point: one kept epoch checkpoint of the fine-tuning run decoded {label} (epoch 0: the "
            "pretrained backbone; not with ctc, as the backbone has no CTC head). Updates = epoch x optimizer "
            "updates per epoch.\n\n")
    header, rows = ["epoch", "updates"], {}
    for dset in sets:
        for sys in systems:
            header.append(f"{sys} {dset} WER")
            for r in curve["rows"]:
                if r["set"] == dset and r["system"] == sys:
                    rows.setdefault((r["epoch"], r["updates"]), {})[(sys, dset)] = r["wer"]
    table = [[ep, up] + [rows[(ep, up)].get((s, d), "-") for d in sets for s in systems]
             for ep, up in sorted(rows)]
    text += md_table(header, table)
    text += "\nUpdates to reach the target WER (first decoded checkpoint at or below it):\n\n"
    text += md_table(["system", "set", "target WER", "updates to reach", "final WER", "final updates", "best WER",
                      "at updates"],
                     [[r["system"], r["set"], r["target_wer"], r["updates_to_reach"] if r["updates_to_reach"]
                       is not None else "not reached", r["final_wer"], r["final_updates"], r["best_wer"],
                       r["best_updates"]] for r in curve["reach"]])
    return text


def write_curve(curve: Dict, out_dir) -> List[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "curve.json", out / "curve.md", out / "wer_vs_updates.png"]
    files[0].write_text(json.dumps(curve, indent=1))
    files[1].write_text(curve_markdown(curve))
    plot_curve(curve, files[2])
    return files
