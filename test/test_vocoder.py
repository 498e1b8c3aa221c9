"""Unit vocoder: input validation (clear errors naming the utterance), training on toy data,
save/load round trip, and the CLI's refusal of out-of-range units."""
import numpy as np
import pytest
import soundfile

from lst.vocoder import (MelConfig, UnitMelNet, UnitVocoder, VocoderInputError, default_frames_per_unit, log_mel,
                         train_vocoder)


def toy_pairs(n_units=6, n_utts=3, seconds=0.5, seed=0):
    """Each unit is a sine of its own frequency, one 20 ms frame per unit."""
    rng = np.random.default_rng(seed)
    hop = 320
    out = []
    for i in range(n_utts):
        n = int(seconds * 50)
        units = rng.integers(0, n_units, size=n)
        t = np.arange(hop) / 16000
        wav = np.concatenate([0.3 * np.sin(2 * np.pi * (200 + 150 * u) * t) for u in units]).astype(np.float32)
        out.append((f"utt{i}", wav, units))
    return out


def small_vocoder(n_units=6):
    cfg = MelConfig(unit_rate_hz=50)
    conf = dict(n_units=n_units, n_mels=cfg.n_mels, d=16, n_layers=1)
    return UnitVocoder(UnitMelNet(**conf), cfg, conf, griffin_lim_iters=2)


def test_out_of_range_units_name_the_utterance():
    voc = small_vocoder(6)
    with pytest.raises(VocoderInputError, match=r"spk1-utt7: unit ids \[6, 9\] out of range \[0, 6\)"):
        voc.synthesize([1, 2, 6, 9, 9], utt="spk1-utt7")
    with pytest.raises(VocoderInputError, match="spk1-utt8: unit ids \\[-1\\]"):
        voc.units_to_mel([-1, 0], utt="spk1-utt8")
    with pytest.raises(VocoderInputError, match="utt9: no units"):
        voc.synthesize([], utt="utt9")
    with pytest.raises(VocoderInputError, match="utt10: units must be integers"):
        voc.synthesize(["a", "3"], utt="utt10")


def test_one_mel_frame_per_unit():
    cfg = MelConfig(unit_rate_hz=50)
    wav = np.zeros(16000, dtype=np.float32)
    assert abs(len(log_mel(wav, cfg)) - 50) <= 1
    voc = small_vocoder(6)
    assert voc.units_to_mel([0, 1, 2, 3, 4], "u").shape == (5, cfg.n_mels)
    assert len(voc.synthesize([0, 1, 2, 3, 4], "u")) == pytest.approx(5 * 320, abs=320)


def test_train_save_load(tmp_path):
    voc, info = train_vocoder(toy_pairs(), n_units=6, unit_rate_hz=50, steps=60, d=32, n_layers=1, log_every=0)
    assert info["steps"] == 60 and info["final_l1"] < 0.6 * info["initial_l1"]
    voc.save(str(tmp_path / "v.pth"))
    back = UnitVocoder.load(str(tmp_path / "v.pth"), griffin_lim_iters=2)
    np.testing.assert_allclose(back.units_to_mel([1, 2, 3], "u"), voc.units_to_mel([1, 2, 3], "u"), atol=1e-6)
    with pytest.raises(VocoderInputError, match="bad"):
        train_vocoder([("bad", np.zeros(3200, np.float32), [0, 99])], n_units=6, unit_rate_hz=50, steps=1)


def test_cli_rejects_out_of_range_units(tmp_path, caplog):
    from lst.bin.train_vocoder import main

    _, wav, _ = toy_pairs(n_utts=1)[0]
    soundfile.write(tmp_path / "a.wav", wav, 16000)
    (tmp_path / "wav.scp").write_text(f"spkA-001 {tmp_path / 'a.wav'}\n")
    (tmp_path / "units").write_text("spkA-001 1 2 3 40\n")
    rc = main(["--wav_scp", str(tmp_path / "wav.scp"), "--units", str(tmp_path / "units"), "--n_units", "6",
               "--unit_rate_hz", "50", "--out_dir", str(tmp_path / "voc"), "--steps", "2"])
    assert rc == 1
    assert "spkA-001: unit ids [40] out of range [0, 6)" in caplog.text


def test_synthesis_is_reproducible():
    voc = small_vocoder(6)
    np.testing.assert_array_equal(voc.synthesize([1, 2, 3, 4], "u"), voc.synthesize([1, 2, 3, 4], "u"))


def test_several_mel_frames_per_unit(tmp_path):
    """A 10 ms mel hop by default: frames_per_unit mel frames per unit, audio of the units' length."""
    assert (default_frames_per_unit(25), default_frames_per_unit(50), default_frames_per_unit(100)) == (4, 2, 1)
    cfg = MelConfig(unit_rate_hz=25, frames_per_unit=4)
    assert cfg.hop == 160 and abs(len(log_mel(np.zeros(16000, np.float32), cfg)) - 100) <= 1
    conf = dict(n_units=6, n_mels=cfg.n_mels, d=16, n_layers=1, frames_per_unit=4)
    voc = UnitVocoder(UnitMelNet(**conf), cfg, conf, griffin_lim_iters=2)
    assert voc.units_to_mel([0, 1, 2, 3, 4], "u").shape == (20, cfg.n_mels)
    assert len(voc.synthesize([0, 1, 2, 3, 4], "u")) == pytest.approx(5 * 640, abs=160)
    # trained: 2 frames per 50 Hz unit by default, saved and loaded with it
    trained, info = train_vocoder(toy_pairs(), n_units=6, unit_rate_hz=50, steps=40, d=16, n_layers=1, log_every=0)
    assert info["frames_per_unit"] == 2 and trained.cfg.hop == 160
    trained.save(str(tmp_path / "v.pth"))
    back = UnitVocoder.load(str(tmp_path / "v.pth"), griffin_lim_iters=2)
    assert back.units_to_mel([1, 2, 3], "u").shape == (6, cfg.n_mels)
    np.testing.assert_allclose(back.units_to_mel([1, 2, 3], "u"), trained.units_to_mel([1, 2, 3], "u"), atol=1e-6)
    # a vocoder of one frame per unit (checkpoints written before frames_per_unit existed) still loads
    old_conf = dict(n_units=6, n_mels=80, d=16, n_layers=1)
    old = UnitVocoder(UnitMelNet(**old_conf), MelConfig(unit_rate_hz=50), old_conf, griffin_lim_iters=2)
    old.save(str(tmp_path / "old.pth"))
    import torch
    ckpt = torch.load(tmp_path / "old.pth", weights_only=True)
    del ckpt["mel"]["frames_per_unit"]  # as those checkpoints were written
    torch.save(ckpt, tmp_path / "old.pth")
    assert UnitVocoder.load(str(tmp_path / "old.pth")).units_to_mel([1, 2], "u").shape == (2, 80)


def test_true_mel_ceiling_resynthesis(tmp_path, caplog):
    """vocode_units --mel_of_wav_scp: recordings back through their own log-mel + Griffin-Lim at a
    vocoder's mel hop (the design's ceiling); a broken recording is named."""
    import logging

    from lst.bin.vocode_units import main

    caplog.set_level(logging.INFO)
    _, wav, _ = toy_pairs(n_utts=1, seconds=0.4)[0]
    soundfile.write(tmp_path / "a.wav", wav, 16000)
    (tmp_path / "b.wav").write_bytes(b"not audio")
    (tmp_path / "wav.scp").write_text(f"spkA-001 {tmp_path / 'a.wav'}\n")
    out = tmp_path / "ceiling"
    assert main(["--mel_of_wav_scp", str(tmp_path / "wav.scp"), "--unit_rate_hz", "25", "--output_dir", str(out),
                 "--griffin_lim_iters", "2"]) == 0
    path = (out / "wav.scp").read_text().split()[1]
    back, sr = soundfile.read(path)
    assert sr == 16000 and abs(len(back) - len(wav)) <= 160 and np.abs(back).max() > 0.1
    assert "hop 160 samples" in caplog.text  # 25 Hz units, 4 frames per unit by default
    (tmp_path / "wav.scp").write_text(f"spkA-002 {tmp_path / 'b.wav'}\n")
    assert main(["--mel_of_wav_scp", str(tmp_path / "wav.scp"), "--output_dir", str(tmp_path / "bad")]) == 1
    assert "spkA-002" in caplog.text and not (tmp_path / "bad" / "wav.scp").exists()
    with pytest.raises(SystemExit):  # neither form
        main(["--output_dir", str(tmp_path / "x")])


def test_knn_match_takes_the_nearest_real_frames():
    """kNN-VC post-filter: every frame -> the mean of its k nearest pool frames (L2), also when
    the pool is scanned in chunks; with keys, only among pool frames of the same key."""
    from lst.vocoder import knn_match

    pool = np.array([[0, 0], [1, 0], [10, 10], [11, 10], [30, 30]], np.float16)
    pred = np.array([[0.2, 0], [10.4, 10], [29, 29]], np.float32)
    for chunk in (1, 2, 65536):
        np.testing.assert_allclose(knn_match(pred, pool, 1, chunk=chunk), [[0, 0], [10, 10], [30, 30]])
        np.testing.assert_allclose(knn_match(pred, pool, 2, chunk=chunk), [[0.5, 0], [10.5, 10], [20.5, 20]])
    assert knn_match(pred, pool, 99).shape == (3, 2)  # k above the pool size: the whole pool
    keys = np.array([0, 1, 0, 1, 2])
    np.testing.assert_allclose(knn_match(pred, pool, 1, np.array([1, 0, 7]), keys), [[1, 0], [10, 10], [30, 30]])
    with pytest.raises(ValueError, match="must be"):
        knn_match(pred, pool[:, :1], 1)
    with pytest.raises(ValueError, match="one key per frame"):
        knn_match(pred, pool, 1, np.array([0]), keys)


def test_gv_postfilter_restores_the_variance():
    from lst.vocoder import gv_postfilter

    rng = np.random.default_rng(0)
    pred = rng.normal(3.0, 0.2, size=(200, 4)).astype(np.float32)
    target = np.array([1.0, 0.5, 2.0, 0.2], np.float32)
    out = gv_postfilter(pred, target)
    np.testing.assert_allclose(out.std(0), target, rtol=1e-4)
    np.testing.assert_allclose(out.mean(0), pred.mean(0), atol=1e-4)
    with pytest.raises(ValueError, match="target_std"):
        gv_postfilter(pred, target[:3])


def test_postfilter_checkpoint_round_trip(tmp_path):
    """Trained with a knn post-filter the vocoder keeps its training frames; loaded, it uses them
    (k=1: every output frame is a real training frame); another post-filter can be chosen at load."""
    import torch

    voc, info = train_vocoder(toy_pairs(), n_units=6, unit_rate_hz=50, steps=5, d=16, n_layers=1, log_every=0,
                              mel_postfilter="knn_unit", knn_k=1)
    assert info["mel_postfilter"] == "knn_unit"
    pool = voc.postfilter_data["pool"]
    assert pool.dtype.is_floating_point and pool.shape == (len(voc.postfilter_data["pool_keys"]), 80)
    voc.save(str(tmp_path / "v.pth"))
    back = UnitVocoder.load(str(tmp_path / "v.pth"), griffin_lim_iters=2)
    assert (back.mel_postfilter, back.knn_k) == ("knn_unit", 1)
    mel = back.units_to_mel([1, 2, 3], "u")
    norm = (mel - back.net.mel_mean.numpy()) / back.net.mel_std.numpy()
    real = pool.float().numpy()
    assert all(np.abs(real - row).max(1).min() < 1e-3 for row in norm)
    np.testing.assert_allclose(mel, voc.units_to_mel([1, 2, 3], "u"), atol=1e-5)
    plain = UnitVocoder.load(str(tmp_path / "v.pth"), mel_postfilter="none")
    with torch.no_grad():
        expected = plain.net(torch.as_tensor([[1, 2, 3]]))[0].numpy()
    np.testing.assert_allclose(plain.units_to_mel([1, 2, 3], "u"), expected, atol=1e-5)
    gv = UnitVocoder.load(str(tmp_path / "v.pth"), mel_postfilter="gv")  # gv statistics are always kept
    assert gv.units_to_mel([1, 2, 3, 4], "u").shape == (8, 80)


def test_old_checkpoint_without_postfilter_loads(tmp_path, caplog):
    """A vocoder saved before post-filters existed loads with none; asking it for knn is a clear error."""
    import torch

    from lst.bin.vocode_units import main

    voc = small_vocoder(6)
    voc.save(str(tmp_path / "old.pth"))
    ckpt = torch.load(tmp_path / "old.pth", weights_only=True)
    del ckpt["postfilter"]  # as those checkpoints were written
    torch.save(ckpt, tmp_path / "old.pth")
    old = UnitVocoder.load(str(tmp_path / "old.pth"), griffin_lim_iters=2)
    assert old.mel_postfilter == "none"
    np.testing.assert_allclose(old.units_to_mel([1, 2], "u"), voc.units_to_mel([1, 2], "u"), atol=1e-6)
    with pytest.raises(ValueError, match="needs \\['pool'\\]"):
        UnitVocoder.load(str(tmp_path / "old.pth"), mel_postfilter="knn")
    (tmp_path / "units").write_text("u1 1 2 3\n")
    assert main(["--vocoder", str(tmp_path / "old.pth"), "--units", str(tmp_path / "units"), "--output_dir",
                 str(tmp_path / "out"), "--mel_postfilter", "knn", "--knn_k", "2"]) == 1
    assert "train it with --mel_postfilter knn" in caplog.text


def voiced_pairs(n_units=6, n_utts=4, seconds=0.6, seed=0):
    """Units alternate between voiced (a 140 or 220 Hz harmonic tone, by utterance) and silence,
    one 20 ms frame per unit, so pitch is predictable from the units plus the utterance."""
    rng = np.random.default_rng(seed)
    hop, out = 320, []
    for i in range(n_utts):
        n = int(seconds * 50)
        units = np.repeat(rng.integers(0, n_units, size=n // 5), 5)[:n]
        f0 = 140.0 if i % 2 else 220.0
        t = np.arange(n * hop) / 16000
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)).astype(np.float32) * 0.2
        voiced = np.repeat(units % 2 == 0, hop)
        out.append((f"utt{i}", np.where(voiced, tone, 0.0).astype(np.float32), units))
    return out


def test_pitch_track_and_bins():
    """pYIN's F0 per mel frame, framed like log_mel: a 150 Hz tone is voiced at log(150), silence unvoiced;
    bins cover [60, 500] Hz in log frequency, id 0 is unvoiced."""
    import torch

    from lst.vocoder.unit_mel import PITCH_FMAX, PITCH_FMIN, pitch_bin, pitch_track

    cfg = MelConfig(unit_rate_hz=50, frames_per_unit=2)
    t = np.arange(16000) / 16000
    wav = np.concatenate([0.3 * np.sin(2 * np.pi * 150 * t), np.zeros(16000)]).astype(np.float32)
    lf0, voiced = pitch_track(wav, cfg)
    assert len(lf0) == len(voiced) == len(log_mel(wav, cfg))
    assert voiced[10:90].all() and not voiced[110:190].any()
    np.testing.assert_allclose(np.exp(lf0[10:90]), 150.0, rtol=0.03)
    assert (lf0[~voiced] == 0).all()
    ids = pitch_bin(torch.log(torch.tensor([PITCH_FMIN, 150.0, PITCH_FMAX, 1000.0, 150.0])),
                    torch.tensor([True, True, True, True, False]), 8)
    assert ids.tolist() == [1, int(np.log(150 / PITCH_FMIN) / np.log(PITCH_FMAX / PITCH_FMIN) * 8) + 1, 8, 8, 0]


def test_pitch_conditioned_vocoder(tmp_path):
    """--pitch_bins: the mel net is conditioned on quantised pitch (teacher-forced in training), a pitch predictor
    learns voicing from the units, synthesis uses the predicted pitch, and the checkpoint round-trips."""
    import torch

    pairs = voiced_pairs()
    voc, info = train_vocoder(pairs, n_units=6, unit_rate_hz=50, steps=80, d=32, n_layers=1, log_every=0,
                              pitch_bins=16)
    assert info["pitch_bins"] == 16 and voc.net_conf["pitch_bins"] == 16
    assert info["final_l1"] < 0.6 * info["initial_l1"]
    assert info["final_voicing_bce"] < 0.3  # voicing follows the unit id's parity
    assert 140 < float(torch.exp(voc.net.log_f0_mean)) < 220
    units = pairs[0][2]
    net = voc.net
    with torch.no_grad():
        x = net.frame_states(torch.as_tensor(units)[None])
        ids = net.pitch_ids_predicted(x)[0]
        assert ((ids > 0).numpy() == np.repeat(units % 2 == 0, 2)).mean() > 0.85  # pYIN's own flags agree ~0.9
        # synthesis = decoding with the predicted pitch; another pitch gives another mel
        pred = net.decode(x, ids[None])[0].numpy() * net.mel_std.numpy() + net.mel_mean.numpy()
        other = net.decode(x, torch.where(ids > 0, torch.full_like(ids, 16), ids)[None])[0].numpy()
    np.testing.assert_allclose(voc.units_to_mel(units, "u"), pred, atol=1e-5)
    assert not np.allclose(other * net.mel_std.numpy() + net.mel_mean.numpy(), pred, atol=1e-3)
    voc.save(str(tmp_path / "v.pth"))
    back = UnitVocoder.load(str(tmp_path / "v.pth"), griffin_lim_iters=2)
    np.testing.assert_allclose(back.units_to_mel(units, "u"), pred, atol=1e-5)
    assert len(back.synthesize(units, "u")) == pytest.approx(len(units) * 320, abs=320)
    with pytest.raises(ValueError, match="voiced"):
        train_vocoder([("silent", np.zeros(8000, np.float32), [0] * 25)], n_units=6, unit_rate_hz=50, steps=1,
                      pitch_bins=16)
