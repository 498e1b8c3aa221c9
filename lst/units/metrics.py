"""Unit quality against frame-level phone labels (HuBERT paper, Hsu et al. 2021, Sec. IV-C).

From the joint distribution ``p(y, z)`` of phone label ``y`` and unit ``z`` over all frames:

* phone purity   = sum_z max_y p(y, z)  (= E_z[max_y p(y|z)]: how phone-pure each unit is)
* cluster purity = sum_y max_z p(y, z)  (= E_y[max_z p(z|y)]: how unit-pure each phone is)
* PNMI           = I(y; z) / H(y)       (phone-normalised mutual information, 0..1)

plus the rate of a unit sequence: units per second before and after run-length dedup, the
deduplicated length ratio, and the bitrate ``units_per_s * H(unit)`` (bits/s, unigram
entropy of the units in the stream, as in GSLM's bitrate), for both streams.
:func:`pnmi_paired_bootstrap` compares two unit sets on the same utterances (utterances
resampled together, 95 % percentile interval of the PNMI difference).

Frame labels follow the frame convention of lst.units.features: frame ``i`` at rate ``r``
gets the label of the span containing its centre ``(i + 0.5) / r``.
"""
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from lst.units.kmeans import dedup


@dataclass
class UnitQuality:
    phone_purity: float
    cluster_purity: float
    pnmi: float
    n_frames: int
    n_phones: int       # distinct labels seen
    n_units_used: int   # distinct units seen

    def as_dict(self) -> Dict:
        return asdict(self)


def joint_counts(phones: Sequence[int], units: Sequence[int], n_phones: int,
                 n_units: int) -> np.ndarray:
    """[n_phones, n_units] frame counts of (phone, unit) pairs."""
    phones = np.asarray(phones, dtype=np.int64)
    units = np.asarray(units, dtype=np.int64)
    if phones.shape != units.shape:
        raise ValueError(f"{len(phones)} phone labels for {len(units)} units")
    counts = np.bincount(phones * n_units + units, minlength=n_phones * n_units)
    return counts.reshape(n_phones, n_units).astype(np.float64)


def quality_from_counts(counts: np.ndarray) -> UnitQuality:
    """Purities and PNMI of a [phones, units] count table."""
    total = counts.sum()
    if total <= 0:
        raise ValueError("no frames to score")
    p = counts / total
    p_y = p.sum(axis=1)
    p_z = p.sum(axis=0)
    nz = p > 0
    outer = np.outer(p_y, p_z)
    mutual_info = float((p[nz] * np.log(p[nz] / outer[nz])).sum())
    h_y = float(-(p_y[p_y > 0] * np.log(p_y[p_y > 0])).sum())
    return UnitQuality(
        phone_purity=float(p.max(axis=0).sum()),
        cluster_purity=float(p.max(axis=1).sum()),
        pnmi=mutual_info / h_y if h_y > 0 else 0.0,
        n_frames=int(total),
        n_phones=int((p_y > 0).sum()),
        n_units_used=int((p_z > 0).sum()),
    )


def unit_quality(pairs: Iterable[Tuple[Sequence[str], Sequence[int]]]) -> Tuple[UnitQuality, np.ndarray, List[str]]:
    """Score (phone labels, unit ids) frame sequences; also returns the count table and labels."""
    labels: Dict[str, int] = {}
    phone_ids, unit_ids = [], []
    for phones, units in pairs:
        if len(phones) != len(units):
            raise ValueError(f"{len(phones)} phone labels for {len(units)} units")
        phone_ids.append(np.asarray([labels.setdefault(ph, len(labels)) for ph in phones], np.int64))
        unit_ids.append(np.asarray(units, np.int64))
    phones = np.concatenate(phone_ids) if phone_ids else np.zeros(0, np.int64)
    units = np.concatenate(unit_ids) if unit_ids else np.zeros(0, np.int64)
    if len(units) and units.min() < 0:
        raise ValueError("negative unit id")
    n_units = int(units.max()) + 1 if len(units) else 1
    counts = joint_counts(phones, units, max(len(labels), 1), n_units)
    return quality_from_counts(counts), counts, list(labels)


def pnmi_paired_bootstrap(pairs_a: Sequence[Tuple[Sequence[str], Sequence[int]]],
                          pairs_b: Sequence[Tuple[Sequence[str], Sequence[int]]],
                          n_boot: int = 1000, seed: int = 0) -> Dict[str, float]:
    """PNMI of unit sets a and b on the same utterances (lists aligned by utterance of (frame phone
    labels, unit ids)) and a paired bootstrap of the difference a - b: utterances are resampled
    with replacement, the same draw for both, and each draw's PNMI comes from its summed tables."""
    if len(pairs_a) != len(pairs_b) or not pairs_a:
        raise ValueError(f"pnmi_paired_bootstrap: {len(pairs_a)} vs {len(pairs_b)} utterances (need the same, > 0)")
    labels: Dict[str, int] = {}
    for phones, _ in list(pairs_a) + list(pairs_b):
        for ph in phones:
            labels.setdefault(ph, len(labels))

    def tables(pairs):  # [n_utts, n_phones, n_units] per-utterance joint counts
        n_units = max(int(np.max(u)) + 1 if len(u) else 1 for _, u in pairs)
        out = np.zeros((len(pairs), len(labels), n_units))
        for i, (phones, units) in enumerate(pairs):
            out[i] = joint_counts([labels[ph] for ph in phones], units, len(labels), n_units)
        return out

    ta, tb = tables(pairs_a), tables(pairs_b)
    rng = np.random.default_rng(seed)
    n = len(pairs_a)
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        diffs[k] = (quality_from_counts(np.tensordot(w, ta, axes=1)).pnmi
                    - quality_from_counts(np.tensordot(w, tb, axes=1)).pnmi)
    a, b = quality_from_counts(ta.sum(0)).pnmi, quality_from_counts(tb.sum(0)).pnmi
    return {"n_utts": n, "pnmi_a": a, "pnmi_b": b, "difference": a - b,
            "ci95": [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))]}


def entropy_bits(values: np.ndarray) -> float:
    """Unigram entropy (bits) of a sequence of ids."""
    if len(values) == 0:
        return 0.0
    p = np.bincount(values) / len(values)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def rate_stats(sequences: Iterable[Sequence[int]], unit_rate_hz: float) -> Dict[str, float]:
    """Units per second, dedup length ratio and bitrates of frame-level unit sequences."""
    raw, deduped = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        raw.append(seq)
        deduped.append(dedup(seq)[0])
    raw = np.concatenate(raw) if raw else np.zeros(0, np.int64)
    deduped = np.concatenate(deduped) if deduped else np.zeros(0, np.int64)
    seconds = len(raw) / unit_rate_hz
    if seconds == 0:
        raise ValueError("no frames")
    dedup_per_s = len(deduped) / seconds
    return {
        "seconds": round(seconds, 3),
        "units_per_s": round(len(raw) / seconds, 3),
        "dedup_units_per_s": round(dedup_per_s, 3),
        "dedup_length_ratio": round(len(deduped) / len(raw), 4),
        "bitrate_bps": round(unit_rate_hz * entropy_bits(raw), 2),
        "dedup_bitrate_bps": round(dedup_per_s * entropy_bits(deduped), 2),
    }


def frame_labels(spans: Sequence[Tuple[str, float, float]], n_frames: int, unit_rate_hz: float,
                 fill: str = "sil") -> List[str]:
    """Label of each frame: the span containing the frame centre ``(i + 0.5) / rate``.

    ``spans`` are (label, start, end) seconds, sorted and not overlapping; frames no span
    covers get ``fill``.
    """
    centres = (np.arange(n_frames) + 0.5) / unit_rate_hz
    out = [fill] * n_frames
    if not spans:
        return out
    starts = np.asarray([s for _, s, _ in spans])
    ends = np.asarray([e for _, _, e in spans])
    idx = np.searchsorted(starts, centres, side="right") - 1
    for i, j in enumerate(idx):
        if j >= 0 and centres[i] < ends[j]:
            out[i] = spans[j][0]
    return out
