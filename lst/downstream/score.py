"""Scoring for the downstream recipes: WER/CER (jiwer), unit error rate (editdistance), and
the markdown tables that go into RESULTS.md. Command line: ``lst.bin.score_wer``.
"""
from typing import Dict, List, Sequence


def normalize(text: str) -> str:
    return " ".join(text.upper().split())


def wer_cer(refs: Dict[str, str], hyps: Dict[str, str]) -> Dict:
    """Corpus-level WER/CER over the reference utterances; a missing hypothesis counts as
    empty (all deletions), so dropped utterances cannot flatter the score."""
    import jiwer

    utts = sorted(refs)
    r = [normalize(refs[u]) for u in utts]
    h = [normalize(hyps.get(u, "")) for u in utts]
    w = jiwer.process_words(r, h)
    n_words = sum(len(x.split()) for x in r)
    c = jiwer.process_characters(r, h)
    return {
        "wer": 100.0 * w.wer, "cer": 100.0 * c.cer, "n_utts": len(utts), "n_words": n_words,
        "sub": w.substitutions, "del": w.deletions, "ins": w.insertions,
        "missing": sum(1 for u in utts if u not in hyps),
    }


def wer_paired_bootstrap(refs: Dict[str, str], hyps_a: Dict[str, str], hyps_b: Dict[str, str],
                         n_boot: int = 2000, seed: int = 0) -> Dict:
    """WER of system a minus WER of system b on the same utterances, with a paired bootstrap
    95 % interval: utterances are resampled together, and each draw's corpus WER is its total
    word errors over its total reference words (as ``wer_cer``), so long utterances weigh more.
    A missing hypothesis counts as empty in either system."""
    import editdistance
    import numpy as np

    utts = sorted(refs)
    if not utts:
        raise ValueError("wer_paired_bootstrap: no reference utterances")
    words = [normalize(refs[u]).split() for u in utts]
    n = np.array([len(w) for w in words], dtype=np.float64)
    err = {name: np.array([editdistance.eval(w, normalize(h.get(u, "")).split()) for u, w in zip(utts, words)],
                          dtype=np.float64)
           for name, h in (("a", hyps_a), ("b", hyps_b))}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(utts), size=(n_boot, len(utts)))
    total = np.maximum(n[idx].sum(axis=1), 1.0)
    diffs = 100.0 * (err["a"][idx].sum(axis=1) - err["b"][idx].sum(axis=1)) / total
    wer = {k: 100.0 * v.sum() / max(n.sum(), 1.0) for k, v in err.items()}
    return {"n_utts": len(utts), "wer_a": wer["a"], "wer_b": wer["b"], "difference": wer["a"] - wer["b"],
            "ci95": [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))], "n_boot": n_boot}


def unit_error_rate(refs: Dict[str, Sequence[int]], hyps: Dict[str, Sequence[int]]) -> float:
    """Total edit distance / total reference units (percent)."""
    import editdistance

    errs = sum(editdistance.eval(list(refs[u]), list(hyps.get(u, []))) for u in refs)
    n = sum(len(refs[u]) for u in refs)
    return 100.0 * errs / max(1, n)


def md_table(header: Sequence[str], rows: List[Sequence]) -> str:
    def fmt(x):
        if isinstance(x, float):
            return f"{x:.3g}" if abs(x) < 0.01 and x != 0 else f"{x:.2f}"
        return str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
