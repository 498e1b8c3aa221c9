"""One batched scorer for every benchmark item file (:mod:`lst.eval.benchmark`), and held-out
NLL per speech unit / text token; both go through ``model.token_logprobs(seq, seq_lengths,
seg_start)`` only, so the token baseline and LST are scored by identical code.

Scored sequence of candidate k = context + candidate k, joined by the junction rule of
:func:`lst.eval.story.join_context_ending` (same modality: the candidate's marker is dropped
and a speech candidate starts a new segment ``|``; a modality switch keeps the marker as
conditioning). With an empty context (BLiMP) the sequence is the candidate alone and its
marker is conditioning. Score = log p(candidate's own units/BPE pieces | everything before),
summed (``raw``) or divided by their number (``norm``, mean log-prob per unit/token); the
closing ``<sos/eos>`` and markers are never scored. An item is correct when its label scores
strictly highest; an m-way tie at the top counts 1/m (a random tie break's expectation).
Accuracies carry 95 % Wilson intervals (:mod:`lst.eval.stats`).
"""
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from lst.data.batch import collate_sequences
from lst.data.sequence_format import SequenceFormatError, parse_sequence
from lst.eval.benchmark import BENCHMARKS, MODES, BenchmarkFormatError
from lst.eval.stats import accuracy_summary
from lst.eval.story import BenchmarkError, item_correct, join_context_ending, scored_length
from lst.vocab import SpeechTextVocab

RULES = ("raw", "norm")
BREAKDOWN_KEYS = ("field", "paradigm")  # meta keys reported per value (BLiMP)


def prepare(item: Dict, k: int, vocab: SpeechTextVocab) -> Tuple[np.ndarray, np.ndarray, int]:
    """-> (ids, seg_start, n_scored) of the scored sequence of candidate ``k``; the scored
    positions are the ``n_scored`` before the closing ``<sos/eos>``, checked to be the
    candidate's own ids."""
    where = f"item {item['id']}"
    cand = item["candidates"][k]["items"]
    try:
        end_ids, _ = parse_sequence(cand, vocab, where=f"{where} candidate {k}")
        if item["context"] is None:
            ids, seg = parse_sequence(cand, vocab, where=f"{where} candidate {k}")
        else:
            joined = join_context_ending(item["context"]["items"], cand, where)
            ids, seg = parse_sequence(joined, vocab, where=f"{where} context+candidate {k}")
        n = scored_length(ids, end_ids, f"{where}: candidate {k}")
    except (SequenceFormatError, BenchmarkError) as e:
        raise BenchmarkFormatError(str(e)) from None
    return ids, seg, n


def _batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> Iterable[List[int]]:
    """Indices sorted by length (longest first), cut into batches of <= batch_size sequences
    and <= max_tokens padded positions (0: no token cap)."""
    order = sorted(range(len(lengths)), key=lambda j: -lengths[j])
    batch: List[int] = []
    for j in order:
        longest = lengths[batch[0]] if batch else lengths[j]
        if batch and (len(batch) >= batch_size or (max_tokens and longest * (len(batch) + 1) > max_tokens)):
            yield batch
            batch = []
        batch.append(j)
    if batch:
        yield batch


def _device(model) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@torch.no_grad()
def _logprobs(model, seqs: Sequence[Tuple[np.ndarray, np.ndarray]], batch_size: int, max_tokens: int,
              progress=None) -> List[np.ndarray]:
    """log p(token | prefix) per position of every (ids, seg_start) sequence (float64)."""
    was_training = model.training
    model.eval()
    device = _device(model)
    out: List[Optional[np.ndarray]] = [None] * len(seqs)
    try:
        for batch in _batches([len(s[0]) for s in seqs], batch_size, max_tokens):
            _, b = collate_sequences([(str(j), {"seq": seqs[j][0], "seg_start": seqs[j][1]}) for j in batch])
            b = {k: v.to(device) for k, v in b.items()}
            logp = model.token_logprobs(b["seq"], b["seq_lengths"], b["seg_start"]).double().cpu().numpy()
            for row, j in enumerate(batch):
                out[j] = logp[row, : len(seqs[j][0])]
            if progress is not None:
                progress(len(batch))
    finally:
        model.train(was_training)
    return out


def score_items(model, vocab: SpeechTextVocab, items: Sequence[Dict], batch_size: int = 16, max_tokens: int = 0,
                progress=None) -> List[Dict]:
    """Per item: {"id", "benchmark", "mode", "label", "raw": [..], "norm": [..], "n_scored": [..],
    "correct_raw", "correct_norm", "meta"}; every candidate of every item in length-sorted batches."""
    flat, seqs = [], []
    for i, it in enumerate(items):
        for k in range(len(it["candidates"])):
            ids, seg, n = prepare(it, k, vocab)
            flat.append((i, k, n))
            seqs.append((ids, seg))
    logps = _logprobs(model, seqs, batch_size, max_tokens, progress)
    raw = [[0.0] * len(it["candidates"]) for it in items]
    n_scored = [[0] * len(it["candidates"]) for it in items]
    for (i, k, n), lp in zip(flat, logps):
        L = len(lp)
        raw[i][k] = float(lp[L - 1 - n: L - 1].sum())
        n_scored[i][k] = n
    out = []
    for i, it in enumerate(items):
        norm = [r / n for r, n in zip(raw[i], n_scored[i])]
        out.append({"id": it["id"], "benchmark": it["benchmark"], "mode": it["mode"], "label": it["label"],
                    "raw": raw[i], "norm": norm, "n_scored": n_scored[i],
                    "correct_raw": item_correct(raw[i], it["label"]), "correct_norm": item_correct(norm, it["label"]),
                    "meta": {k: v for k, v in (it.get("meta") or {}).items() if k in BREAKDOWN_KEYS}})
    return out


def _entry(rows: Sequence[Dict]) -> Dict:
    e = {"n": len(rows)}
    for rule in RULES:
        e[rule] = accuracy_summary([r[f"correct_{rule}"] for r in rows], "wilson")
        e[rule]["ties"] = sum(1 for r in rows if r[rule].count(max(r[rule])) > 1)  # ties at the top
    e["chance"] = float(np.mean([1.0 / len(r["raw"]) for r in rows])) if rows else None
    return e


def group_key(r: Dict) -> str:
    return f"{r['benchmark']}/{r['mode']}"


def summarize(scored: Sequence[Dict]) -> Dict:
    """{"results": {"<benchmark>/<mode>": entry}, "breakdown": {"<benchmark>/<mode>": {"field":
    {value: entry}, "paradigm": {...}}}}; entry = {"n", "chance", "raw": {"accuracy", "ci95",
    "correct", "ties", ...}, "norm": {...}}."""
    groups: Dict[str, List[Dict]] = defaultdict(list)
    for r in scored:
        groups[group_key(r)].append(r)
    order = sorted(groups, key=lambda g: (BENCHMARKS.index(g.split("/")[0]), MODES.index(g.split("/")[1])))
    results, breakdown = {}, {}
    for g in order:
        results[g] = _entry(groups[g])
        for key in BREAKDOWN_KEYS:
            vals: Dict[str, List[Dict]] = defaultdict(list)
            for r in groups[g]:
                if key in r["meta"]:
                    vals[str(r["meta"][key])].append(r)
            if vals:
                breakdown.setdefault(g, {})[key] = {v: _entry(rs) for v, rs in sorted(vals.items())}
    return {"results": results, "breakdown": breakdown}


def format_table(summary: Dict) -> str:
    """Plain-text table: benchmark/mode, n, chance, raw and normalised accuracy [95 % CI]."""
    def acc(e):
        lo, hi = e["ci95"]
        return f"{100 * e['accuracy']:5.1f} [{100 * lo:4.1f}, {100 * hi:4.1f}]"

    lines = [f"{'benchmark/mode':<18} {'n':>6} {'chance':>6}  {'raw acc % [95% CI]':<22} {'norm acc % [95% CI]':<22}"]
    for g, e in summary["results"].items():
        lines.append(f"{g:<18} {e['n']:>6} {100 * e['chance']:6.1f}  {acc(e['raw']):<22} {acc(e['norm']):<22}")
    for g, by in summary.get("breakdown", {}).items():
        for key, vals in by.items():
            lines.append(f"-- {g} by {key}")
            for v, e in vals.items():
                lines.append(f"   {v[:33]:<33} {e['n']:>5}  {acc(e['raw']):<22} {acc(e['norm']):<22}")
    return "\n".join(lines)


def write_scores(scored: Sequence[Dict], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in scored:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------- held-out NLL
def heldout_nll(model, vocab: SpeechTextVocab, lines: Dict[str, str], batch_size: int = 16,
                max_tokens: int = 0) -> Dict:
    """Held-out NLL of corpus lines ({seq_id: item string}) in nats per speech unit and per text
    token (BPE piece): -mean log p over those target positions. Markers and ``<sos/eos>`` are
    not counted (both models predict them identically from the data format).
    -> {"speech": nll, "text": nll, "n_units", "n_tokens", "n_sequences", "per_sequence": {seq_id:
    [speech nats, units, text nats, tokens]}} (None where a kind is absent). The per-sequence sums
    let two models be compared with a paired bootstrap over held-out sequences
    (:func:`paired_bootstrap_nll`)."""
    seqs = []
    for sid, line in lines.items():
        try:
            seqs.append(parse_sequence(line, vocab, where=f"sequence {sid}"))
        except SequenceFormatError as e:
            raise BenchmarkFormatError(str(e)) from None
    logps = _logprobs(model, seqs, batch_size, max_tokens)
    sums = {"speech": 0.0, "text": 0.0}
    counts = {"speech": 0, "text": 0}
    per_seq = {}
    for sid, (ids, _), lp in zip(lines, seqs, logps):
        is_unit = ids >= vocab.unit_offset
        is_text = (ids >= vocab.text_offset) & ~is_unit
        is_unit[0] = is_text[0] = False
        sp, tx = -float(lp[is_unit].sum()), -float(lp[is_text].sum())
        per_seq[sid] = [sp, int(is_unit.sum()), tx, int(is_text.sum())]
        sums["speech"] += sp
        sums["text"] += tx
        counts["speech"] += int(is_unit.sum())
        counts["text"] += int(is_text.sum())
    return {"speech": sums["speech"] / counts["speech"] if counts["speech"] else None,
            "text": sums["text"] / counts["text"] if counts["text"] else None,
            "n_units": counts["speech"], "n_tokens": counts["text"], "n_sequences": len(seqs),
            "per_sequence": per_seq}


def paired_bootstrap_nll(a: Dict, b: Dict, kind: str = "speech", n_boot: int = 2000,
                         seed: int = 0) -> Optional[Dict]:
    """Paired bootstrap over held-out sequences of the NLL difference a - b (nats per unit for
    ``kind="speech"``, per token for ``"text"``), from two :func:`heldout_nll` results on the
    same corpus. -> {"diff", "ci95": [lo, hi], "p_a_better": share of resamples with a < b,
    "n_sequences"}; None when a result lacks ``per_sequence`` or the kind is absent."""
    pa, pb = a.get("per_sequence"), b.get("per_sequence")
    if not pa or not pb:
        return None
    if set(pa) != set(pb):
        raise ValueError("paired_bootstrap_nll: the two results are on different held-out sequences")
    keys = sorted(pa)
    col, cnt = (0, 1) if kind == "speech" else (2, 3)
    na = np.array([pa[k][col] for k in keys], dtype=np.float64)
    nb = np.array([pb[k][col] for k in keys], dtype=np.float64)
    n = np.array([pa[k][cnt] for k in keys], dtype=np.float64)
    if n.sum() <= 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    diffs = (na[idx].sum(1) - nb[idx].sum(1)) / np.maximum(n[idx].sum(1), 1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"diff": float((na.sum() - nb.sum()) / n.sum()), "ci95": [float(lo), float(hi)],
            "p_a_better": float((diffs < 0).mean()), "n_sequences": len(keys)}
