import json

import numpy as np
import pytest

ctc_segmentation = pytest.importorskip("ctc_segmentation", reason="pip install ctc-segmentation==1.7.5")

from lst.align import ctc_align as ca  # noqa: E402
from lst.data.timings import WordTiming, boundary_error_summary, boundary_errors, read_ctm, validate_timings  # noqa: E402
from lst.tts.espeak import espeak_available  # noqa: E402


def peaky_posteriors(n_frames, spikes):
    """Log-posteriors that are blank everywhere except char c at frame t for (t, c) in spikes."""
    p = np.full((n_frames, len(ca.CHARS)), 1e-4)
    p[:, 0] = 1.0
    for t, c in spikes:
        p[t] = 1e-4
        p[t, ca.CHAR2ID[c]] = 1.0
    p /= p.sum(1, keepdims=True)
    return np.log(p)


class _FakeAligner(ca.Aligner):
    def __init__(self, lpz, offsets=(0.0, 0.0)):
        self._lpz = lpz
        self.cfg = {"offsets": {"start": offsets[0], "end": offsets[1]}}

    def log_probs(self, feats):
        return self._lpz


def test_boundaries_follow_character_states():
    # "hi" with spikes at frames 10, 11; "yo" at frames 40, 42 (FRAME_S each)
    lpz = peaky_posteriors(60, [(10, "h"), (11, "i"), (40, "y"), (42, "o")])
    raw = _FakeAligner(lpz).raw_boundaries(np.zeros((120, 80), np.float32), ["Hi,", "yo"])
    assert raw[0] == pytest.approx((10 * ca.FRAME_S, 12 * ca.FRAME_S))
    assert raw[1] == pytest.approx((40 * ca.FRAME_S, 43 * ca.FRAME_S))


def test_align_applies_offsets_and_never_overlaps():
    lpz = peaky_posteriors(60, [(10, "h"), (11, "i"), (13, "y"), (14, "o")])
    al = _FakeAligner(lpz, offsets=(-0.01, -0.1))  # raw boundaries are early at the end by 100 ms
    audio = np.zeros(int(2.0 * ca.SAMPLE_RATE), np.float32)
    hyp = al.align(audio, ["hi", "yo"])
    validate_timings("u", hyp)
    F = ca.FRAME_S  # raw (10F, 12F), (13F, 15F); shifted by +0.01 / +0.1: the 2nd start is clipped
    assert (hyp[0].start, hyp[0].end) == pytest.approx((10 * F + 0.01, 12 * F + 0.1))
    assert (hyp[1].start, hyp[1].end) == pytest.approx((12 * F + 0.1, 15 * F + 0.1))


def test_too_few_frames_is_a_clear_error_and_calibration_skips_it(tmp_path, monkeypatch):
    # 5 frames for "hello world": more label states than frames -> ValueError naming the utterance
    lpz = peaky_posteriors(5, [(1, "h")])
    with pytest.raises(ValueError, match=r"utterance u7: 5 CTC frames are fewer than its 10 characters"):
        _FakeAligner(lpz).raw_boundaries(np.zeros((10, 80), np.float32), ["hello", "world"], "u7")
    # as many frames as characters, but fewer than the label states (blanks between words): no assert
    ten = peaky_posteriors(10, [(1, "h")])
    with pytest.raises(ValueError, match=r"utterance u8: 10 CTC frames \(.* s\) are fewer than the \d+ label states"):
        _FakeAligner(ten).raw_boundaries(np.zeros((20, 80), np.float32), ["hello", "world"], "u8")

    class Ex:
        def __init__(self, utt, words):
            self.utt, self.words, self.feats = utt, words, np.zeros((10, 80), np.float32)

    good = peaky_posteriors(60, [(10, "h"), (11, "i")])

    class Mixed(_FakeAligner):
        model_dir = tmp_path

        def raw_boundaries(self, feats, words, utt="?"):
            if utt == "fast":
                return _FakeAligner(lpz).raw_boundaries(feats, ["hello", "world"], utt)
            return _FakeAligner(good).raw_boundaries(feats, words, utt)

    monkeypatch.setattr(ca, "load_examples", lambda d, n, s: [Ex("fast", ["hello", "world"]), Ex("ok", ["hi"])])
    ref = {"fast": [WordTiming("hello", 0, 1), WordTiming("world", 1, 2)], "ok": [WordTiming("hi", 0.3, 0.4)]}
    off = ca.calibrate(Mixed(lpz), "d", ref)   # "fast" is skipped, "ok" sets the offsets
    assert off["start"] == pytest.approx(10 * ca.FRAME_S - 0.3) and off["end"] == pytest.approx(12 * ca.FRAME_S - 0.4)
    monkeypatch.setattr(ca, "load_examples", lambda d, n, s: [Ex("fast", ["hello", "world"])])
    with pytest.raises(ValueError, match="no utterance of d could be aligned"):
        ca.calibrate(Mixed(lpz), "d", ref)


def test_normalise_and_errors():
    assert ca.normalise_word("Don't!") == "don't" and ca.normalise_word("&") == "#"
    s, e = boundary_errors([WordTiming("a", 0.1, 0.2)], [WordTiming("a", 0.12, 0.15)])
    assert s[0] == pytest.approx(0.02) and e[0] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="utterance u1: word 0 is 'a' in the reference but 'b'"):
        boundary_errors([WordTiming("a", 0, 1)], [WordTiming("b", 0, 1)], "u1")
    with pytest.raises(ValueError, match="2 reference words vs 1 aligned"):
        boundary_errors([WordTiming("a", 0, 1), WordTiming("b", 1, 2)], [WordTiming("a", 0, 1)])
    s, e = boundary_errors([WordTiming("HELLO", 0.3, 0.5)], [WordTiming("hello", 0.25, 0.5)])  # AN4 upper case
    assert s[0] == pytest.approx(-0.05) and e[0] == pytest.approx(0.0)
    summary = boundary_error_summary(np.array([0.01, -0.03]), np.array([0.05, 0.2]))
    assert summary["n_words"] == 2 and summary["mean_abs_ms"] == pytest.approx(72.5)
    assert summary["median_abs_ms"] == pytest.approx(40.0) and summary["within_40ms_pct"] == 50.0
    assert summary["within_100ms_pct"] == 75.0 and summary["end_mean_signed_ms"] == pytest.approx(125.0)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed (sudo apt-get install -y espeak-ng)")
def test_train_align_score_cli(tmp_path, capsys):
    """Tiny end to end: espeak-ng corpus -> train 1 min -> align writes a valid word_ctm -> score."""
    import soundfile as sf

    from lst.bin.ctc_align import main
    from lst.data.timings import write_ctm
    from lst.tts.espeak import EspeakSynthesizer

    sentences = [
        "the cat sat on the mat", "a dog ran home", "she likes red apples", "we go to school today",
        "he found a big box", "they sing a happy song", "my friend has a new car", "it is cold outside",
    ]
    syn = EspeakSynthesizer()
    d = tmp_path / "data"
    d.mkdir()
    wav, text, ctm = [], [], {}
    for v, voice in enumerate(["en-us", "en"]):
        syn.set_voice(voice, 170)
        for i, s in enumerate(sentences):
            utt = f"v{v}_{i:02d}"
            r = syn.synthesize(s, utt)
            sf.write(d / f"{utt}.wav", r.audio, 16000)
            wav.append(f"{utt} {d / utt}.wav")
            text.append(f"{utt} {s}")
            ctm[utt] = r.words
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    (d / "text").write_text("\n".join(text) + "\n")
    write_ctm(d / "word_ctm", ctm)
    model = tmp_path / "exp"
    assert main(["train", "--data_dir", str(d), "--out_dir", str(model), "--epochs", "4", "--max_minutes", "0.2",
                 "--hidden", "48", "--batch_frames", "3000", "--calib_dir", str(d), "--calib_utts", "4"]) == 0
    cfg = json.loads((model / "config.json").read_text())
    assert set(cfg["offsets"]) == {"start", "end"}
    assert main(["align", "--model_dir", str(model), "--data_dir", str(d), "--out", str(tmp_path / "word_ctm")]) == 0
    hyp = read_ctm(tmp_path / "word_ctm")  # validates: ordered, non-overlapping
    assert set(hyp) == set(ctm)
    for utt, words in hyp.items():
        assert [w.word for w in words] == [w.word for w in ctm[utt]]
        assert words[-1].end <= ctm[utt][-1].end + 1.0
    capsys.readouterr()
    assert main(["score", "--model_dir", str(model), "--data_dir", str(d)]) == 0
    assert "mean |boundary error|" in capsys.readouterr().out
