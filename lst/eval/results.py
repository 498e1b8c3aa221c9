"""RESULTS.json rows (issue 17): a list of flat rows, validated on write and on read.

Accuracy row (accuracies as fractions; ``normalised`` false = summed log-likelihood, true =
mean per candidate unit/token)::

    {"model": "lst", "patching": "static", "control": "flops", "params_m": 3.81, "train_flops": 1.2e14,
     "benchmark": "sc", "mode": "S->S", "n": 200, "acc": 0.52, "ci_low": 0.45, "ci_high": 0.59,
     "normalised": false}

Held-out NLL row (nats per speech unit for ``mode`` "speech", per text token for "text"),
one per evaluated checkpoint along a run::

    {"model": "token_lm", "patching": "none", "control": "steps", "params_m": 3.6, "train_flops": 6e13,
     "benchmark": "heldout", "mode": "speech", "nll": 3.91}

``model``: ``token_lm`` | ``lst``; ``patching``: ``none`` (token baseline) | ``static`` |
``aligned`` | ``curriculum`` | ``silence``; ``control``: ``flops`` (equal training FLOPs),
``steps`` (the paper's protocol: equal updates of equal batches) or ``data`` (the
data-controlled baseline: as many training sequences as the reference LST run).
"""
import json
import math
import os
from pathlib import Path
from typing import Dict, List, Sequence

from lst.eval.benchmark import BENCHMARKS, MODES

MODELS = ("token_lm", "lst")
PATCHINGS = ("none", "static", "aligned", "curriculum", "silence")
CONTROLS = ("flops", "steps", "data")
RUN_KEYS = ("model", "patching", "control", "params_m", "train_flops")
ACC_KEYS = RUN_KEYS + ("benchmark", "mode", "n", "acc", "ci_low", "ci_high", "normalised")
NLL_KEYS = RUN_KEYS + ("benchmark", "mode", "nll")
NLL_MODES = ("speech", "text")


class ResultsError(ValueError):
    pass


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_row(row: Dict, where: str = "row") -> None:
    """Raise ResultsError naming ``where`` unless ``row`` is exactly an accuracy or NLL row."""
    if not isinstance(row, dict):
        raise ResultsError(f"{where}: not an object")
    keys = NLL_KEYS if row.get("benchmark") == "heldout" else ACC_KEYS
    if set(row) != set(keys):
        extra, missing = sorted(set(row) - set(keys)), sorted(set(keys) - set(row))
        raise ResultsError(f"{where}: keys differ from {keys}: extra {extra}, missing {missing}")
    if row["model"] not in MODELS:
        raise ResultsError(f"{where}: model {row['model']!r} not one of {MODELS}")
    if row["patching"] not in PATCHINGS or (row["model"] == "token_lm") != (row["patching"] == "none"):
        raise ResultsError(f"{where}: patching {row['patching']!r} does not fit model {row['model']!r} "
                           f"(token_lm: none; lst: one of {PATCHINGS[1:]})")
    if row["control"] not in CONTROLS:
        raise ResultsError(f"{where}: control {row['control']!r} not one of {CONTROLS}")
    for k in ("params_m", "train_flops"):
        if not _num(row[k]) or row[k] < 0:
            raise ResultsError(f"{where}: {k} must be a number >= 0, got {row[k]!r}")
    if keys is NLL_KEYS:
        if row["mode"] not in NLL_MODES:
            raise ResultsError(f"{where}: held-out mode {row['mode']!r} not one of {NLL_MODES}")
        if not _num(row["nll"]) or row["nll"] < 0:
            raise ResultsError(f"{where}: nll must be a finite number >= 0, got {row['nll']!r}")
        return
    if row["benchmark"] not in BENCHMARKS:
        raise ResultsError(f"{where}: benchmark {row['benchmark']!r} not one of {BENCHMARKS + ('heldout',)}")
    if row["mode"] not in MODES:
        raise ResultsError(f"{where}: mode {row['mode']!r} not one of {MODES}")
    if not isinstance(row["n"], int) or isinstance(row["n"], bool) or row["n"] < 1:
        raise ResultsError(f"{where}: n must be a positive integer, got {row['n']!r}")
    for k in ("acc", "ci_low", "ci_high"):
        if not _num(row[k]) or not 0.0 <= row[k] <= 1.0:
            raise ResultsError(f"{where}: {k} must be a fraction in [0, 1], got {row[k]!r}")
    if not row["ci_low"] - 1e-9 <= row["acc"] <= row["ci_high"] + 1e-9:
        raise ResultsError(f"{where}: acc {row['acc']} outside its interval [{row['ci_low']}, {row['ci_high']}]")
    if not isinstance(row["normalised"], bool):
        raise ResultsError(f"{where}: normalised must be true or false, got {row['normalised']!r}")


def validate_rows(rows: Sequence[Dict], where: str = "RESULTS.json") -> None:
    if not isinstance(rows, list):
        raise ResultsError(f"{where}: must be a list of rows")
    seen = set()
    for i, r in enumerate(rows):
        validate_row(r, f"{where}: row {i}")
        key = tuple(r[k] for k in (NLL_KEYS if r["benchmark"] == "heldout" else ACC_KEYS)
                    if k not in ("n", "acc", "ci_low", "ci_high", "nll"))
        if key in seen:
            raise ResultsError(f"{where}: row {i} duplicates an earlier row {dict(zip(ACC_KEYS, key))}")
        seen.add(key)


def run_fields(model: str, patching: str, control: str, params: int, train_flops: float) -> Dict:
    """The run part of a row (``params``: parameter count, stored in millions)."""
    return {"model": model, "patching": patching if model == "lst" else "none", "control": control,
            "params_m": round(params / 1e6, 4), "train_flops": float(train_flops)}


def accuracy_rows(run: Dict, summary: Dict) -> List[Dict]:
    """Rows from ``lst.eval.scorer.summarize`` output for one run (``run``: :func:`run_fields`)."""
    rows = []
    for g, e in summary["results"].items():
        bench, mode = g.split("/")
        for rule, normalised in (("raw", False), ("norm", True)):
            a = e[rule]
            rows.append(dict(run, benchmark=bench, mode=mode, n=int(e["n"]), acc=float(a["accuracy"]),
                             ci_low=float(a["ci95"][0]), ci_high=float(a["ci95"][1]), normalised=normalised))
    return rows


def nll_rows(run: Dict, nll: Dict) -> List[Dict]:
    """Rows from ``lst.eval.scorer.heldout_nll`` output at one checkpoint (``run`` carries its FLOPs)."""
    return [dict(run, benchmark="heldout", mode=m, nll=float(nll[m])) for m in NLL_MODES if nll.get(m) is not None]


def write_results_json(rows: Sequence[Dict], path) -> None:
    """Validate, sort (run, benchmark, mode, FLOPs) and write atomically."""
    rows = sorted(rows, key=lambda r: (r["params_m"], r["model"], r["patching"], r["control"], r["benchmark"],
                                       r["mode"], r.get("normalised", False), r["train_flops"]))
    validate_rows(list(rows), str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_results_json(path) -> List[Dict]:
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not JSON ({e})") from None
    validate_rows(rows, str(path))
    return rows


def add_columns(rows: List[Dict], key: str, value, columns: Dict, drop: Sequence[str] = ()) -> None:
    """Add ``columns`` to every row whose ``key`` is ``value`` (removing the ``drop`` fields);
    without such a row, append ``{key: value, **columns}``. For the recipes' RESULTS.json
    files whose rows a later stage completes (e.g. ssl1's rows keyed by ``units``)."""
    hit = False
    for row in rows:
        if row.get(key) == value:
            for k in drop:
                row.pop(k, None)
            row.update(columns)
            hit = True
    if not hit:
        rows.append({key: value, **columns})
