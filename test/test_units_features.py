"""MFCC and s3prl SSL features on the shared 50 Hz grid, 25 Hz pooling, frame energies."""
import warnings

import librosa
import numpy as np
import pytest

from lst.units.features import (FeatureError, MfccExtractor, build_extractor, extract,
                                frame_log_energy, frame_span_seconds, num_frames_50hz,
                                pool_frames)

SR = 16000


def save_tiny_hubert(path, n_layers=2, dim=32):
    """A randomly initialised 2-layer HuBERT saved in s3prl's converted-checkpoint format.

    Same conv stack as HuBERT base (400-sample receptive field, 320 stride), tiny widths.
    """
    import torch

    from lst.compat import S3PRL_PLACEHOLDERS, espnet_placeholders

    with espnet_placeholders(S3PRL_PLACEHOLDERS):
        from s3prl.upstream.hubert.hubert_model import (HubertConfig, HubertModel,
                                                        HubertPretrainingConfig)

    torch.manual_seed(0)
    model_cfg = dict(
        label_rate=50.0, encoder_layers=n_layers, encoder_embed_dim=dim,
        encoder_ffn_embed_dim=2 * dim, encoder_attention_heads=2, final_dim=16,
        conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
        conv_pos=16, conv_pos_groups=4,
    )
    task_cfg = dict(normalize=False, sample_rate=SR)
    symbols = [["<s>", "0", "1"]]
    with warnings.catch_warnings():  # s3prl's own weight_norm deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        model = HubertModel(HubertConfig(**model_cfg), HubertPretrainingConfig(**task_cfg),
                            symbols)
    torch.save({"task_cfg": task_cfg, "model_cfg": model_cfg,
                "model_weight": model.state_dict(), "dictionaries_symbols": symbols}, path)
    return str(path)


def speechy(seconds, seed=0):
    """Silence with a few loud harmonic bursts: has both speech-like and silent frames."""
    rng = np.random.default_rng(seed)
    wav = 1e-4 * rng.standard_normal(int(SR * seconds))
    t = np.arange(int(0.3 * SR)) / SR
    for start in np.arange(0.2, seconds - 0.35, 0.6):
        f0 = rng.uniform(100, 250)
        burst = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
        wav[int(start * SR): int(start * SR) + len(t)] += 0.2 * burst
    return wav.astype(np.float32)


@pytest.mark.parametrize("n_samples,expected", [(0, 0), (399, 0), (400, 1), (719, 1),
                                                (720, 2), (16000, 49), (16320, 50)])
def test_frame_count_matches_hubert_grid(n_samples, expected):
    assert num_frames_50hz(n_samples) == expected
    assert len(MfccExtractor()(np.zeros(n_samples, np.float32) + 1e-3)) == expected


def test_mfcc_is_librosa_mfcc_plus_deltas():
    wav = speechy(1.0)
    feats = MfccExtractor()(wav)
    assert feats.shape == (49, 39) and feats.dtype == np.float32
    used = librosa.effects.preemphasis(wav[: 400 + 48 * 320], coef=0.97)
    reference = librosa.feature.mfcc(y=used, sr=SR, n_mfcc=13, n_fft=400, hop_length=320,
                                     center=False, window="hamming", n_mels=23, fmin=20.0,
                                     lifter=22).T
    np.testing.assert_allclose(feats[:, :13], reference, rtol=1e-4, atol=1e-3)
    delta = librosa.feature.delta(reference.T, width=5, mode="nearest").T
    np.testing.assert_allclose(feats[:, 13:26], delta, rtol=1e-4, atol=1e-3)


def test_energy_frames_follow_the_time_convention():
    """A burst in [0.5, 1.0) s is loud in exactly the frames whose windows overlap it."""
    wav = np.full(2 * SR, 1e-4, dtype=np.float32)
    wav[SR // 2: SR] = 0.5
    energy = frame_log_energy(wav)
    loud = np.flatnonzero(energy > -40)
    # frame i reads samples [320 i, 320 i + 400): overlaps [8000, 16000) for i in 24..49
    assert loud[0] == 24 and loud[-1] == 49
    assert frame_span_seconds(25, 50) == (0.5, 0.52)
    assert frame_span_seconds(12, 25) == (0.48, 0.52)


def test_pool_frames_25hz_averages_pairs_and_keeps_odd_tail():
    frames = np.arange(10, dtype=np.float32).reshape(5, 2)
    pooled = pool_frames(frames, 2)
    np.testing.assert_array_equal(pooled, [[1, 2], [5, 6], [8, 9]])
    assert pool_frames(frames, 1) is frames


def test_extract_at_25hz():
    wav = speechy(1.5)
    extractor = MfccExtractor()
    f50, e50 = extract(extractor, wav, 50)
    f25, e25 = extract(extractor, wav, 25)
    assert len(f50) == len(e50) == 74 and len(f25) == len(e25) == 37
    np.testing.assert_allclose(f25[3], (f50[6] + f50[7]) / 2, rtol=1e-5)
    # energies pool in the power domain: between the two halves, at most 3 dB above the max
    assert min(e50[6], e50[7]) - 1e-3 <= e25[3] <= max(e50[6], e50[7]) + 1e-3
    with pytest.raises(FeatureError):
        extract(extractor, wav, 100)


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory):
    return save_tiny_hubert(tmp_path_factory.mktemp("ssl") / "tiny_hubert.pt")


def test_ssl_features_through_s3prl(tiny_hubert):
    wav = speechy(1.0)
    layer1 = build_extractor("ssl", tiny_hubert, 1)
    assert layer1.dim == 32
    feats = layer1(wav)
    assert feats.shape == (49, 32) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    np.testing.assert_allclose(layer1(wav), feats, atol=1e-5)  # deterministic (eval mode)
    last = build_extractor("ssl", tiny_hubert, 2)(wav)
    assert not np.allclose(last, feats)
    f25, e25 = extract(layer1, wav, 25)
    assert f25.shape == (25, 32) and len(e25) == 25


def test_ssl_errors_name_the_problem(tiny_hubert, tmp_path):
    with pytest.raises(FeatureError, match="out of range"):
        build_extractor("ssl", tiny_hubert, 7)
    with pytest.raises(FeatureError, match="not a local file"):
        build_extractor("ssl", str(tmp_path / "missing.pt"), 1)
    with pytest.raises(FeatureError, match="not a local file"):
        build_extractor("ssl", "https://example.com/hubert.pt", 1)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureError, match="cannot load SSL checkpoint .*junk.pt"):
        build_extractor("ssl", str(junk), 1)
    with pytest.raises(FeatureError, match="--ssl_ckpt"):
        build_extractor("ssl", None, None)
