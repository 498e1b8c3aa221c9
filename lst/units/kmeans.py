"""Codebooks over frame features (k-means, or argmax for posteriors): learn, apply, silence report,
run-length dedup."""
import logging
from typing import Dict, List, Sequence, Tuple

import joblib
import numpy as np
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)


def sample_frames(utt_frames: Sequence[Tuple[str, int]], max_frames: int, seed: int = 0,
                  oversample: int = 4) -> Tuple[List[str], int]:
    """Choose which utterances to read for k-means training.

    Utterances are taken in a seeded random order until they hold ``oversample * max_frames``
    frames, so reading stays bounded on LibriSpeech-sized sets while the frames still come
    from many utterances (and speakers); ``select_frames`` then draws ``max_frames`` of them.
    Returns the chosen utterance ids (in input order) and their total frame count.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(utt_frames))
    chosen, total = [], 0
    for i in order:
        if total >= oversample * max_frames:
            break
        utt, n = utt_frames[i]
        if n > 0:
            chosen.append(i)
            total += n
    return [utt_frames[i][0] for i in sorted(chosen)], total


def select_frames(n_total: int, max_frames: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n_total, max_frames)`` frames drawn without replacement."""
    rng = np.random.default_rng(seed + 1)
    if n_total <= max_frames:
        return np.arange(n_total)
    return np.sort(rng.choice(n_total, size=max_frames, replace=False))


def learn_kmeans(feats: np.ndarray, n_clusters: int, seed: int = 0, batch_size: int = 10000,
                 max_iter: int = 100, n_init: int = 3, n_threads: int = 1) -> MiniBatchKMeans:
    """Fit MiniBatchKMeans with k-means++ init (HuBERT's recipe, fewer inits).

    ``n_threads`` caps sklearn's OpenMP pool: on a shared 2-core machine its threads spin
    against other jobs, and a small fit ran 20x slower with 2 threads than with 1.
    """
    if len(feats) < n_clusters:
        raise ValueError(f"{len(feats)} training frames < {n_clusters} clusters")
    km = MiniBatchKMeans(
        n_clusters=n_clusters, init="k-means++", batch_size=min(batch_size, len(feats)),
        max_iter=max_iter, n_init=n_init, random_state=seed, reassignment_ratio=0.0,
        max_no_improvement=100, compute_labels=True,
    )
    with threadpool_limits(limits=n_threads):
        km.fit(feats)
    return km


class ArgmaxCodebook:
    """The codebook of one-hot centroids: each frame's unit is its largest feature.

    For phone posteriors (``--feature_type phone_posterior``) that is the classifier's most
    likely phone, which resynthesizes better than k-means over the posteriors (LJ Speech tts1:
    48.0 against 52.9 % WER): k-means spends clusters on mixtures of phones. It is a codebook,
    not a special case, because the nearest one-hot centroid of a probability vector ``p`` is its
    argmax (``|p - e_k|^2 = |p|^2 + 1 - 2 p_k``), so ``apply_kmeans``, packages and every stage
    after stage 4 use it unchanged. Duck-types the parts of MiniBatchKMeans this package reads.
    """

    def __init__(self, dim: int):
        if dim < 1:
            raise ValueError(f"an argmax codebook needs features of dimension >= 1, got {dim}")
        self.n_clusters = dim
        self.cluster_centers_ = np.eye(dim, dtype=np.float64)

    def predict(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats).argmax(axis=1).astype(np.int64)

    def score(self, feats: np.ndarray) -> float:
        """Minus the summed squared distance to the nearest centroid (sklearn's sign)."""
        feats = np.asarray(feats, dtype=np.float64)
        nearest = self.cluster_centers_[self.predict(feats)]
        return -float(((feats - nearest) ** 2).sum())


def save_kmeans(km: MiniBatchKMeans, path: str) -> None:
    joblib.dump(km, path)


def load_kmeans(path: str) -> MiniBatchKMeans:
    return joblib.load(path)


def apply_kmeans(km: MiniBatchKMeans, feats: np.ndarray) -> np.ndarray:
    """Nearest-centroid ids for each frame (int64; empty input gives an empty array).

    Same answer as ``km.predict``, but one float64 matmul instead of sklearn's per-call
    thread-pool setup, which dominates on utterance-sized inputs (~10 ms a call).
    """
    if len(feats) == 0:
        return np.zeros(0, dtype=np.int64)
    centers = km.cluster_centers_.astype(np.float64)
    # argmin_k |x - c_k|^2 = argmin_k (|c_k|^2 - 2 x.c_k); |x|^2 is the same for every k.
    scores = (centers ** 2).sum(axis=1) - 2.0 * (np.asarray(feats, dtype=np.float64) @ centers.T)
    return scores.argmin(axis=1).astype(np.int64)


def silence_report(labels: np.ndarray, relative_energy_db: np.ndarray, n_clusters: int,
                   threshold_db: float = 30.0, min_fraction: float = 0.7) -> Dict:
    """Which clusters are mostly silence.

    A frame counts as silent when its log energy is more than ``threshold_db`` below the
    loudest frame of its utterance (``relative_energy_db`` = frame dB - utterance max dB).
    A cluster is a silence unit when at least ``min_fraction`` of its training frames are
    silent. Relative energy makes the test independent of recording gain.
    """
    silent = relative_energy_db < -threshold_db
    counts = np.bincount(labels, minlength=n_clusters)
    silent_counts = np.bincount(labels, weights=silent.astype(np.float64), minlength=n_clusters)
    fractions = np.divide(silent_counts, counts, out=np.zeros(n_clusters), where=counts > 0)
    silence_units = [int(k) for k in np.flatnonzero((fractions >= min_fraction) & (counts > 0))]
    return {
        "silence_units": silence_units,
        "silence_fraction": [round(float(f), 4) for f in fractions],
        "frame_count": [int(c) for c in counts],
        "threshold_db": threshold_db,
        "min_fraction": min_fraction,
        "silent_frame_fraction": round(float(silent.mean()) if len(silent) else 0.0, 4),
    }


def dedup(units: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Run-length encode: ``[5 5 5 2 2 7]`` -> values ``[5 2 7]``, durations ``[3 2 1]``."""
    units = np.asarray(units)
    if len(units) == 0:
        return units.copy(), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], units[1:] != units[:-1]]))
    durations = np.diff(np.concatenate([starts, [len(units)]]))
    return units[starts], durations.astype(np.int64)


def expand(values: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Undo ``dedup``: repeat each value by its duration."""
    return np.repeat(np.asarray(values), np.asarray(durations))
