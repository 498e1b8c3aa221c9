"""k-means learn/apply, frame sampling, silence report and the dedup round trip."""
import numpy as np
import pytest

from lst.units.kmeans import (apply_kmeans, dedup, expand, learn_kmeans, load_kmeans,
                              sample_frames, save_kmeans, select_frames, silence_report)


def blobs(n_per=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=np.float32)
    x = np.concatenate([c + rng.standard_normal((n_per, 3)).astype(np.float32) for c in centers])
    return x, np.repeat(np.arange(4), n_per), centers


def test_learn_recovers_separated_clusters_and_apply_matches_sklearn(tmp_path):
    x, truth, centers = blobs()
    km = learn_kmeans(x, 4, seed=0)
    found = np.sort(km.cluster_centers_, axis=0)
    np.testing.assert_allclose(found, np.sort(centers, axis=0), atol=0.3)
    units = apply_kmeans(km, x)
    np.testing.assert_array_equal(units, km.predict(x))
    # one unit per true cluster: the labelling is a permutation of the truth
    assert all(len(set(units[truth == c])) == 1 for c in range(4))
    save_kmeans(km, tmp_path / "km.pkl")
    np.testing.assert_array_equal(apply_kmeans(load_kmeans(tmp_path / "km.pkl"), x), units)
    assert apply_kmeans(km, np.zeros((0, 3), np.float32)).shape == (0,)


def test_learn_refuses_fewer_frames_than_clusters():
    with pytest.raises(ValueError, match="3 training frames < 8 clusters"):
        learn_kmeans(np.zeros((3, 2), np.float32), 8)


def test_sampling_is_bounded_deterministic_and_spread():
    utts = [(f"u{i:03d}", 100) for i in range(200)]  # 20000 frames
    chosen, total = sample_frames(utts, max_frames=1000, seed=3)
    assert total == len(chosen) * 100 and 4000 <= total < 4100  # 4x oversampling
    assert chosen == sorted(chosen)  # read in scp order
    assert sample_frames(utts, 1000, seed=3) == (chosen, total)
    assert sample_frames(utts, 1000, seed=4)[0] != chosen
    keep = select_frames(total, 1000, seed=3)
    assert len(keep) == 1000 and len(set(keep)) == 1000 and keep.max() < total
    np.testing.assert_array_equal(select_frames(50, 1000), np.arange(50))
    assert sample_frames([("a", 0), ("b", 5)], 10)[0] == ["b"]  # empty utterances never chosen


def test_silence_report_flags_mostly_silent_clusters():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    rel_db = np.concatenate([
        np.full(10, -60.0),                  # cluster 0: all silent
        np.r_[np.full(6, -50.0), np.zeros(4)],  # cluster 1: 60% silent
        np.zeros(10),                        # cluster 2: speech
    ])
    report = silence_report(labels, rel_db, n_clusters=4, threshold_db=30, min_fraction=0.7)
    assert report["silence_units"] == [0]
    assert report["silence_fraction"] == [1.0, 0.6, 0.0, 0.0]
    assert report["frame_count"] == [10, 10, 10, 0]
    looser = silence_report(labels, rel_db, n_clusters=4, threshold_db=30, min_fraction=0.5)
    assert looser["silence_units"] == [0, 1]


@pytest.mark.parametrize("seq", [[], [7], [5, 5, 5, 2, 2, 7], [1, 2, 3], [4] * 9])
def test_dedup_known_cases_round_trip(seq):
    values, durations = dedup(np.array(seq, dtype=np.int64))
    np.testing.assert_array_equal(expand(values, durations), seq)
    assert durations.sum() == len(seq) and (durations > 0).all()
    assert not np.any(values[1:] == values[:-1])


def test_dedup_example_and_random_round_trips():
    values, durations = dedup(np.array([5, 5, 5, 2, 2, 7]))
    assert values.tolist() == [5, 2, 7] and durations.tolist() == [3, 2, 1]
    rng = np.random.default_rng(0)
    for _ in range(50):
        seq = rng.integers(0, 4, size=rng.integers(1, 200))
        np.testing.assert_array_equal(expand(*dedup(seq)), seq)
