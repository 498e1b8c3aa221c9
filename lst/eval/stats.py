"""Confidence intervals for accuracies.

* :func:`wilson_interval` — Wilson score interval for a binomial proportion (the default
  reported CI: well behaved for small ``n`` and for accuracies near 0 or 1).
* :func:`bootstrap_interval` — percentile bootstrap of the mean of per-item scores (seeded,
  deterministic); also works for fractional scores (a tie counted as 0.5).
* :func:`paired_difference` — two systems scored on the same items: the accuracy difference
  with a paired bootstrap interval (items resampled together), which is narrower than two
  separate intervals because the items' difficulty cancels.
"""
import math
from typing import Sequence, Tuple

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: float, n: int, z: float = Z95) -> Tuple[float, float]:
    """(low, high) Wilson score interval of ``successes / n``; ``successes`` may be fractional."""
    if n <= 0:
        raise ValueError(f"wilson_interval: n must be > 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: successes {successes} outside [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(scores: Sequence[float], n_boot: int = 2000, alpha: float = 0.05,
                       seed: int = 0) -> Tuple[float, float]:
    """Percentile bootstrap (low, high) of the mean of ``scores`` (resampling items)."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_interval: no scores")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def accuracy_summary(correct: Sequence[float], method: str = "wilson") -> dict:
    """{"n", "correct", "accuracy", "ci95": [low, high], "ci_method"} for per-item scores in [0, 1]."""
    c = np.asarray(correct, dtype=np.float64)
    n = int(c.size)
    if n == 0:
        return {"n": 0, "correct": 0.0, "accuracy": None, "ci95": None, "ci_method": method}
    k = float(c.sum())
    if method == "wilson":
        ci = wilson_interval(k, n)
    elif method == "bootstrap":
        ci = bootstrap_interval(c)
    else:
        raise ValueError(f"unknown CI method {method!r} (wilson or bootstrap)")
    return {"n": n, "correct": k, "accuracy": k / n, "ci95": [ci[0], ci[1]], "ci_method": method}


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0) -> dict:
    """{"n", "difference", "ci95"}: mean(a) - mean(b) over the same items (aligned lists of per-item
    scores in [0, 1]) and its paired percentile-bootstrap 95 % interval."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired_difference: score lists differ in shape ({x.shape} vs {y.shape})")
    low, high = bootstrap_interval(x - y, n_boot=n_boot, seed=seed)
    return {"n": int(x.size), "difference": float((x - y).mean()), "ci95": [low, high]}
