"""How many frames each deduplicated unit lasts: the duration model of a unit vocoder.

Deduplicated (run-length encoded) units, as in SpiritLM or GSLM, drop the durations; a vocoder
that is given such units must put them back. GSLM's unit-to-speech model predicts them with a
small CNN. At the corpus sizes this toolkit trains on (LJ Speech's 325 clips have ~24k phone
segments) a back-off table does the same job with nothing to tune: the mean duration of a unit
given its left and right neighbours when that context was seen at least ``min_count`` times in
training, else the unit's own mean, else the corpus mean. (At 50 Hz phone units, the neighbours
carry most of what is predictable: stressed vowels before voiced stops, short closures, ...)

Durations are in unit frames (one frame = 1 / unit_rate_hz s). The predicted real-valued means
are rounded with the residual carried to the next unit, so an utterance's total length is the
sum of the means, not that sum biased by rounding every unit the same way.
"""
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import torch

from lst.data.kaldi_dir import read_kaldi_map

EDGE = -1  # the "neighbour" of an utterance's first and last unit


def contexts(units: Sequence[int]) -> List[Tuple[int, int, int]]:
    """(left, unit, right) for every position; EDGE beyond the ends."""
    u = [int(x) for x in units]
    left, right = [EDGE] + u[:-1], u[1:] + [EDGE]
    return list(zip(left, u, right))


def round_carry(values: np.ndarray) -> np.ndarray:
    """Round to integers >= 1 so that every prefix sum stays within 0.5 of the real one
    (where the >= 1 floor allows)."""
    out = np.zeros(len(values), dtype=np.int64)
    total, emitted = 0.0, 0
    for i, v in enumerate(values):
        total += float(v)
        out[i] = max(1, int(round(total - emitted)))
        emitted += out[i]
    return out


class UnitDurationModel:
    """Back-off mean durations, ``(left, unit, right)`` -> ``unit`` -> corpus mean."""

    def __init__(self, n_units: int, context_mean: Dict[Tuple[int, int, int], float], unit_mean: np.ndarray,
                 global_mean: float, min_count: int):
        self.n_units, self.min_count = int(n_units), int(min_count)
        self.context_mean = dict(context_mean)
        self.unit_mean = np.asarray(unit_mean, dtype=np.float64)  # NaN: unit never seen in training
        self.global_mean = float(global_mean)

    @classmethod
    def fit(cls, pairs: Iterable[Tuple[Sequence[int], Sequence[int]]], n_units: int,
            min_count: int = 3) -> "UnitDurationModel":
        """pairs: (deduplicated units, their durations in frames) per utterance."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        ctx_sum: Dict[Tuple[int, int, int], List[float]] = {}
        unit_sum, unit_n = np.zeros(n_units), np.zeros(n_units)
        total, count = 0.0, 0
        for units, durs in pairs:
            if len(units) != len(durs):
                raise ValueError(f"{len(units)} units but {len(durs)} durations")
            for c, d in zip(contexts(units), durs):
                if not 0 <= c[1] < n_units:
                    raise ValueError(f"unit {c[1]} outside [0, {n_units})")
                if d < 1:
                    raise ValueError(f"duration {d} < 1 frame")
                s = ctx_sum.setdefault(c, [0.0, 0])
                s[0] += d
                s[1] += 1
                unit_sum[c[1]] += d
                unit_n[c[1]] += 1
                total += d
                count += 1
        if count == 0:
            raise ValueError("no (unit, duration) pairs to fit a duration model on")
        with np.errstate(invalid="ignore", divide="ignore"):
            unit_mean = np.where(unit_n > 0, unit_sum / np.maximum(unit_n, 1), np.nan)
        ctx = {c: s / n for c, (s, n) in ctx_sum.items() if n >= min_count}
        return cls(n_units, ctx, unit_mean, total / count, min_count)

    def mean_durations(self, units: Sequence[int]) -> np.ndarray:
        out = np.empty(len(units))
        for i, c in enumerate(contexts(units)):
            m = self.context_mean.get(c)
            if m is None:
                m = self.unit_mean[c[1]] if 0 <= c[1] < self.n_units else np.nan
                if np.isnan(m):
                    m = self.global_mean
            out[i] = m
        return out

    def predict(self, units: Sequence[int]) -> np.ndarray:
        """Integer frames (>= 1) per unit."""
        return round_carry(self.mean_durations(units)) if len(units) else np.zeros(0, dtype=np.int64)

    # ---- (de)serialisation: tensors only, so torch.load(weights_only=True) reads it ----
    def state(self) -> Dict[str, torch.Tensor]:
        keys = sorted(self.context_mean)
        return {"n_units": torch.tensor(self.n_units), "min_count": torch.tensor(self.min_count),
                "context_keys": torch.tensor(keys, dtype=torch.long).reshape(-1, 3),
                "context_mean": torch.tensor([self.context_mean[k] for k in keys], dtype=torch.float64),
                "unit_mean": torch.as_tensor(self.unit_mean, dtype=torch.float64),
                "global_mean": torch.tensor(self.global_mean, dtype=torch.float64)}

    @classmethod
    def from_state(cls, st: Dict[str, torch.Tensor]) -> "UnitDurationModel":
        keys = [tuple(int(x) for x in k) for k in st["context_keys"].tolist()]
        return cls(int(st["n_units"]), dict(zip(keys, st["context_mean"].tolist())), st["unit_mean"].numpy(),
                   float(st["global_mean"]), int(st["min_count"]))

    def error(self, pairs: Iterable[Tuple[Sequence[int], Sequence[int]]]) -> Dict[str, float]:
        """Mean absolute error per unit (frames) and relative error of utterance lengths."""
        abs_err, n, rel = 0.0, 0, []
        for units, durs in pairs:
            if not len(units):
                continue
            pred = self.predict(units)
            abs_err += float(np.abs(pred - np.asarray(durs)).sum())
            n += len(units)
            rel.append(abs(int(pred.sum()) - int(np.sum(durs))) / max(1, int(np.sum(durs))))
        return {"unit_mae_frames": abs_err / max(n, 1), "utt_length_rel_error": float(np.mean(rel)) if rel else 0.0,
                "n_units": n}


def read_durations(path: str) -> Dict[str, List[int]]:
    """'utt d d d' -> {utt: [d, ...]}; a value that is not a positive integer names its line."""
    out = {}
    for utt, value in read_kaldi_map(path, allow_empty_value=True).items():
        try:
            d = [int(x) for x in value.split()]
        except ValueError:
            raise ValueError(f"{path}: {utt}: durations must be integers") from None
        if any(x < 1 for x in d):
            raise ValueError(f"{path}: {utt}: a duration < 1 frame")
        out[utt] = d
    return out
