"""Phonetic units: frame labels from phone spans, the phone classifier CLI, its posteriors as
``--feature_type phone_posterior`` features, the argmax codebook over them, and the errors of bad inputs."""
import json

import kaldiio
import numpy as np
import pytest
import soundfile
import torch

from lst.bin import dump_features, dump_units, learn_kmeans
from lst.bin import train_phone_classifier as phone_cli
from lst.data.timings import WordTiming
from lst.units.features import FeatureError, build_extractor
from lst.units.io import ToolError, read_int_sequences, read_kaldi_map
from lst.units.kmeans import ArgmaxCodebook, apply_kmeans
from lst.units.phones import (IGNORE, PhoneClassifierConfig, PhoneExample, SpecAugment, frame_accuracy,
                              frame_phone_labels, speed_perturbed, train_phone_classifier)

SR = 16000


def test_frame_labels_use_frame_centres_and_ignore_uncovered_frames():
    spans = [WordTiming("sil", 0.0, 0.05), WordTiming("AA", 0.05, 0.11), WordTiming("B", 0.11, 0.13)]
    labels = frame_phone_labels(spans, 8, {"sil": 0, "AA": 1, "B": 2})
    # centres 0.01 0.03 | 0.05 0.07 0.09 | 0.11 | 0.13 (end is exclusive) 0.15
    assert labels.tolist() == [0, 0, 1, 1, 1, 2, IGNORE, IGNORE]
    # a phone the training set never had is not scored
    assert frame_phone_labels([WordTiming("ZH", 0.0, 0.05), WordTiming("sil", 0.05, 0.1)], 5,
                              {"sil": 0}).tolist() == [IGNORE, IGNORE, 0, 0, 0]


def two_sound_clip(rng, seconds=2.0):
    """Alternating 0.2-0.5 s stretches of a 300 Hz tone ('AA') and white noise ('S');
    returns the samples and the phone spans."""
    out, spans, t, i = [], [], 0.0, int(rng.integers(2))
    while t < seconds:
        d = float(rng.uniform(0.2, 0.5))
        n = int(d * SR)
        if i % 2 == 0:
            out.append(0.3 * np.sin(2 * np.pi * 300 * np.arange(n) / SR))
            spans.append(WordTiming("AA", t, t + d))
        else:
            out.append(0.1 * rng.standard_normal(n))
            spans.append(WordTiming("S", t, t + d))
        t, i = t + d, i + 1
    return np.concatenate(out).astype(np.float32), spans


def test_classifier_learns_two_sounds():
    from lst.units.features import MfccExtractor

    rng, mfcc = np.random.default_rng(0), MfccExtractor()
    index = {"AA": 0, "S": 1}
    examples = []
    for k in range(8):
        wav, spans = two_sound_clip(rng)
        feats = mfcc(wav)
        examples.append(PhoneExample(f"u{k}", feats, frame_phone_labels(spans, len(feats), index)))
    cfg = PhoneClassifierConfig(n_phones=2, conv_dim=16, hidden=16, n_layers=1)
    model, info = train_phone_classifier(examples[:6], examples[6:], ["AA", "S"], steps=60, batch_size=4,
                                         crop_frames=100, eval_every=30, cfg=cfg)
    assert info["best_valid_frame_acc"] > 0.9, info["history"]
    assert frame_accuracy(model, examples[6:]) == pytest.approx(info["best_valid_frame_acc"])
    assert [row["step"] for row in info["history"]] == [30, 60]


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory):
    """Train/valid wav.scp + phone_ctm: 6 train clips (one without an alignment), 2 valid clips
    (one with a phone the training set never had)."""
    root = tmp_path_factory.mktemp("phones")
    rng = np.random.default_rng(1)
    for part, n in (("train", 6), ("valid", 2)):
        d = root / part
        d.mkdir()
        scp, ctm = [], []
        for k in range(n):
            utt = f"{part}{k}"
            wav, spans = two_sound_clip(rng)
            soundfile.write(d / f"{utt}.wav", wav, SR)
            scp.append(f"{utt} {d / f'{utt}.wav'}\n")
            if part == "train" and k == 5:
                continue  # ps_align skipped it (a word without a pronunciation)
            if part == "valid" and k == 1:
                spans[-1] = WordTiming("ZH", spans[-1].start, spans[-1].end)
            ctm += [f"{utt} {s.word} {s.start:.4f} {s.end:.4f}\n" for s in spans]
        (d / "wav.scp").write_text("".join(scp))
        (d / "phone_ctm").write_text("".join(ctm))
    return root


def test_cli_trains_and_counts_skips(aligned_dir, tmp_path, caplog):
    out = tmp_path / "clf"
    d = aligned_dir
    phone_cli.main(["--wav_scp", str(d / "train/wav.scp"), "--phone_ctm", str(d / "train/phone_ctm"),
                                 "--valid_wav_scp", str(d / "valid/wav.scp"), "--valid_phone_ctm",
                                 str(d / "valid/phone_ctm"), "--out_dir", str(out), "--steps", "40",
                                 "--batch_size", "4", "--crop_frames", "100"])
    info = json.loads((out / "train_info.json").read_text())
    assert info["phones"] == ["AA", "S"] and (out / "phones.txt").read_text().split() == ["AA", "S"]
    assert info["skipped"]["train"]["skipped_no_alignment"] == 1 and info["n_train_utts"] == 5
    assert info["skipped"]["valid"]["skipped"] == 0 and info["n_valid_utts"] == 2  # ZH frames unscored
    assert "train5: no_alignment" in caplog.text and "valid1: phone(s) ZH not in the training set" in caplog.text
    assert 0.0 <= info["best_valid_frame_acc"] <= 1.0

    # its posteriors as unit features: one column per phone, rows are distributions
    feats_dir = tmp_path / "feats"
    dump_features.main(["--wav_scp", str(d / "valid/wav.scp"), "--out_dir", str(feats_dir),
                        "--feature_type", "phone_posterior", "--ssl_ckpt", str(out / "model.pth")])
    feat_info = json.loads((feats_dir / "feat_info.json").read_text())
    assert feat_info["feature_type"] == "phone_posterior" and feat_info["dim"] == 2
    assert feat_info["ssl_ckpt"] == str((out / "model.pth").resolve())
    for utt, rx in read_kaldi_map(str(feats_dir / "feats.scp")):
        post = kaldiio.load_mat(rx)
        assert post.shape[1] == 2 and np.allclose(post.sum(1), 1.0, atol=1e-5)
        assert len(post) == int(dict(read_kaldi_map(str(feats_dir / "utt2num_frames")))[utt])

    # --codebook argmax: one unit per phone, each frame's most likely phone; K is the dim (another is refused)
    with pytest.raises(ToolError, match="--n_clusters must be 2"):
        learn_kmeans.main(["--feats_dir", str(feats_dir), "--n_clusters", "3", "--codebook", "argmax",
                           "--out_dir", str(tmp_path / "km3")])
    km_dir, units_dir = tmp_path / "argmax", tmp_path / "units"
    with pytest.raises(ToolError, match="--n_clusters is required for --codebook kmeans"):
        learn_kmeans.main(["--feats_dir", str(feats_dir), "--out_dir", str(tmp_path / "km")])
    learn_kmeans.main(["--feats_dir", str(feats_dir), "--codebook", "argmax", "--out_dir", str(km_dir)])
    km_info = json.loads((km_dir / "km_info.json").read_text())
    assert (km_info["codebook"], km_info["n_clusters"]) == ("argmax", 2)
    dump_units.main(["--feats_dir", str(feats_dir), "--km_dir", str(km_dir), "--out_dir", str(units_dir)])
    units = read_int_sequences(str(units_dir / "units"))
    for utt, rx in read_kaldi_map(str(feats_dir / "feats.scp")):
        np.testing.assert_array_equal(units[utt], kaldiio.load_mat(rx).argmax(1))
    assert json.loads((units_dir / "unit_info.json").read_text())["n_units"] == 2


def test_argmax_codebook_is_the_nearest_one_hot_centroid():
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.full(7, 0.3), size=500)
    codebook = ArgmaxCodebook(7)
    np.testing.assert_array_equal(apply_kmeans(codebook, post), post.argmax(1))
    np.testing.assert_array_equal(codebook.predict(post), post.argmax(1))
    one_hot = np.eye(7)[post.argmax(1)]
    assert codebook.score(post) == pytest.approx(-((post - one_hot) ** 2).sum())
    with pytest.raises(ValueError, match="dimension >= 1"):
        ArgmaxCodebook(0)


def test_speed_perturbation_scales_audio_and_spans():
    wav = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    spans = [WordTiming("AA", 0.1, 0.5), WordTiming("S", 0.5, 0.9)]
    slow, slow_spans = speed_perturbed(wav, spans, 0.9)
    assert len(slow) == pytest.approx(16000 / 0.9, abs=2)
    assert [(s.word, round(s.start, 4), round(s.end, 4)) for s in slow_spans] == [("AA", 0.1111, 0.5556),
                                                                                   ("S", 0.5556, 1.0)]
    fast, _ = speed_perturbed(wav, spans, 1.1)
    assert len(fast) == pytest.approx(16000 / 1.1, abs=2)
    with pytest.raises(ValueError, match="> 0"):
        speed_perturbed(wav, spans, 0.0)


def test_spec_augment_masks_only_bounded_spans():
    rng = np.random.default_rng(0)
    feats = np.ones((100, 39), dtype=np.float32)
    masked = SpecAugment(time_masks=2, max_time=10, feat_masks=2, max_feat=6)(feats, rng)
    assert feats.min() == 1.0  # the input is not modified
    rows, cols = (masked == 0).all(1), (masked == 0).all(0)
    assert 0 < rows.sum() <= 20 and 0 < cols.sum() <= 12


def test_cli_speed_perturbation_and_masks(aligned_dir, tmp_path):
    d = aligned_dir
    out = tmp_path / "clf_sp"
    phone_cli.main(["--wav_scp", str(d / "train/wav.scp"), "--phone_ctm", str(d / "train/phone_ctm"),
                    "--out_dir", str(out), "--steps", "4", "--batch_size", "2", "--crop_frames", "50",
                    "--speed_perturb", "0.9,1.0 1.1", "--spec_augment", "true", "--hidden", "16", "--n_layers", "1"])
    model = torch.load(out / "model.pth", weights_only=False)
    assert (model["config"]["hidden"], model["config"]["n_layers"]) == (16, 1)
    info = json.loads((out / "train_info.json").read_text())
    assert info["n_train_utts"] == 15 and info["n_train_clips"] == 5
    assert info["speed_perturb"] == [0.9, 1.0, 1.1] and info["spec_augment"]
    assert info["skipped"]["train"]["skipped_no_alignment"] == 1  # counted once, not per speed
    with pytest.raises(ToolError, match="--speed_perturb wants positive factors"):
        phone_cli.main(["--wav_scp", str(d / "train/wav.scp"), "--phone_ctm", str(d / "train/phone_ctm"),
                        "--out_dir", str(tmp_path / "x"), "--speed_perturb", "fast"])


def test_cli_refuses_half_a_valid_set_and_bad_checkpoints(aligned_dir, tmp_path):
    d = aligned_dir
    with pytest.raises(ToolError, match="both --valid_wav_scp and --valid_phone_ctm"):
        phone_cli.main(["--wav_scp", str(d / "train/wav.scp"), "--phone_ctm",
                                     str(d / "train/phone_ctm"), "--valid_wav_scp", str(d / "valid/wav.scp"),
                                     "--out_dir", str(tmp_path / "x")])
    bad_ctm = tmp_path / "bad_ctm"
    bad_ctm.write_text("train0 AA 0.0 0.3\ntrain0 S 0.2 0.5\n")  # overlapping spans
    with pytest.raises(ToolError, match=f"{bad_ctm}:2"):
        phone_cli.main(["--wav_scp", str(d / "train/wav.scp"), "--phone_ctm", str(bad_ctm),
                                     "--out_dir", str(tmp_path / "x")])
    with pytest.raises(FeatureError, match="needs --ssl_ckpt"):
        build_extractor("phone_posterior")
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(FeatureError, match="not a phone classifier"):
        build_extractor("phone_posterior", str(other))
    with pytest.raises(FeatureError, match="cannot read phone classifier"):
        build_extractor("phone_posterior", str(tmp_path / "missing.pth"))


def test_oracle_phone_units_script(tmp_path):
    """egs/ljspeech/tts1/local/phone_ctm_units.py: frame phone ids from a ctm, uncovered frames as sil."""
    import runpy
    import sys

    from conftest import REPO_ROOT

    ctm = tmp_path / "phone_ctm"
    ctm.write_text("a sil 0.00 0.04\na AA 0.04 0.08\nb S 0.00 0.02\n")
    frames = tmp_path / "utt2num_frames"
    frames.write_text("a 5\nb 2\nc 3\n")
    script = str(REPO_ROOT / "egs" / "ljspeech" / "tts1" / "local" / "phone_ctm_units.py")
    argv = sys.argv
    try:
        sys.argv = [script, "--phone_ctm", str(ctm), "--utt2num_frames", str(frames), "--out", str(tmp_path / "u"),
                    "--write_phones", str(tmp_path / "phones.txt")]
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = argv
    assert (tmp_path / "phones.txt").read_text().split() == ["AA", "S", "sil"]
    # a: sil sil AA AA (uncovered ->) sil; b: S (uncovered ->) sil; c has no alignment
    assert (tmp_path / "u").read_text() == "a 2 2 0 0 2\nb 1 2\n"


def test_compare_floors_script_pools_vocoder_seeds(tmp_path, capsys):
    """egs/ljspeech/tts1/local/compare_floors.py: per-seed WERs, and a - b pooled over seeds and clips."""
    import runpy
    import sys

    from conftest import REPO_ROOT

    (tmp_path / "ref").write_text("u1 THE CAT SAT\nu2 A DOG\n")
    (tmp_path / "a0").write_text("u1 the cat sat\nu2 a dog\n")  # perfect
    (tmp_path / "a1").write_text("u1 the cat sat\nu2 a log\n")  # 1 of 5 words wrong
    (tmp_path / "b0").write_text("u1 the bat sat\nu2\n")  # 3 of 5 wrong
    (tmp_path / "b1").write_text("u1 the bat sat\n")  # u2 missing: all deletions
    (tmp_path / "ids").write_text("u1\n")
    script = str(REPO_ROOT / "egs" / "ljspeech" / "tts1" / "local" / "compare_floors.py")

    def run(*extra):
        argv = sys.argv
        try:
            sys.argv = [script, "--ref_text", str(tmp_path / "ref"), "--a", str(tmp_path / "a0"), str(tmp_path / "a1"),
                        "--b", str(tmp_path / "b0"), str(tmp_path / "b1"), "--out", str(tmp_path / "out.json"), *extra]
            runpy.run_path(script, run_name="__main__")
        finally:
            sys.argv = argv
        return json.loads((tmp_path / "out.json").read_text())

    res = run()
    assert res["a"]["wer_per_seed"] == pytest.approx([0.0, 20.0]) and res["a"]["wer_mean"] == pytest.approx(10.0)
    assert res["b"]["wer_per_seed"] == pytest.approx([60.0, 60.0])
    assert res["a_minus_b"]["difference"] == pytest.approx(-50.0) and res["a_minus_b"]["n_utts"] == 2
    assert "a - b (pooled over 2 seeds, 2 clips): -50.00" in capsys.readouterr().out
    only_u1 = run("--utts", str(tmp_path / "ids"))
    assert only_u1["n_utts"] == 1 and only_u1["b"]["wer_per_seed"] == pytest.approx([100 / 3, 100 / 3])
    with pytest.raises(SystemExit):
        argv = sys.argv
        try:
            sys.argv = [script, "--ref_text", str(tmp_path / "ref"), "--a", str(tmp_path / "a0"),
                        "--b", str(tmp_path / "b0"), str(tmp_path / "b1")]
            runpy.run_path(script, run_name="__main__")
        finally:
            sys.argv = argv
