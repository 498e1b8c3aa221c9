"""PocketSphinx forced alignment (lst.align.pocketsphinx_align, lst.bin.ps_align): words and
phones on espeak-ng speech (against the synthesizer's own word timings) and on one real AN4
clip of the shared archive; phone labels on the unit frame grid; bad inputs."""
import tarfile

import numpy as np
import pytest

from conftest import SHARED

pytest.importorskip("pocketsphinx")

from lst.align import pocketsphinx_align as pa  # noqa: E402
from lst.data.timings import boundary_error_summary, boundary_errors, read_ctm, validate_timings  # noqa: E402
from lst.units.metrics import frame_labels  # noqa: E402

ARCHIVE = SHARED / "data" / "an4" / "an4_sphere.tar.gz"
SENTENCE = "the little dog ran across the green field to find his ball"


@pytest.fixture(scope="module")
def aligner():
    return pa.PocketSphinxAligner()


@pytest.fixture(scope="module")
def espeak_utt():
    from lst.tts.espeak import EspeakSynthesizer, espeak_available
    from lst.tts.voices import HELDOUT_RATE, HELDOUT_VOICE

    if not espeak_available():
        pytest.skip("espeak-ng not installed")
    syn = EspeakSynthesizer(16000)
    syn.set_voice(HELDOUT_VOICE, HELDOUT_RATE)
    return syn.synthesize(SENTENCE, "espeak-1")


@pytest.fixture(scope="module")
def an4_clip(tmp_path_factory):
    """AN4 test an406-fcaw-b ('RUBOUT G M E F THREE NINE'), real read speech, 16 kHz SPHERE."""
    if not ARCHIVE.exists():
        pytest.skip(f"{ARCHIVE} not present")
    import soundfile

    root = tmp_path_factory.mktemp("an4")
    name = "an4/wav/an4test_clstk/fcaw/an406-fcaw-b.sph"
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, members=[m for m in tar if m.name == name], filter="data")
    audio, sr = soundfile.read(root / name, dtype="float32")
    assert sr == 16000
    return audio, "RUBOUT G M E F THREE NINE".split()


def check_alignment(ali, tokens, duration):
    assert [w.word for w in ali.words] == tokens
    validate_timings(ali.utt, ali.words)  # ordered, non-negative, non-overlapping
    assert all(w.end > w.start for w in ali.words)
    assert ali.words[-1].end <= duration + 0.011
    # phones: contiguous from 0, ending at (or one frame short of) the audio's end
    assert ali.phones[0].start == 0
    for a, b in zip(ali.phones, ali.phones[1:]):
        assert abs(a.end - b.start) < 1e-9 and b.end > b.start
    assert duration - 0.03 <= ali.phones[-1].end <= duration + 0.011


def test_espeak_speech_words_close_to_the_synthesizer_timings(aligner, espeak_utt):
    tokens = SENTENCE.split()
    ali = aligner.align(espeak_utt.audio, tokens, "espeak-1")
    check_alignment(ali, tokens, espeak_utt.duration)
    start_err, end_err = boundary_errors(espeak_utt.words, ali.words)
    summary = boundary_error_summary(start_err, end_err)
    # loose bounds (the held-out-voice test set measures ~59 ms mean, 16 ms median)
    assert summary["median_abs_ms"] < 60 and summary["mean_abs_ms"] < 120, summary
    assert summary["within_100ms_pct"] >= 75, summary


def test_real_an4_clip_words_lie_on_the_speech(aligner, an4_clip):
    audio, tokens = an4_clip
    ali = aligner.align(audio, tokens, "fcaw-an406-b")
    check_alignment(ali, tokens, len(audio) / 16000)
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10((frames.astype(np.float64) ** 2).mean(1) + 1e-10)
    inside = np.zeros(len(db), bool)
    for w in ali.words:
        inside[int(w.start * 100): int(w.end * 100)] = True
    # the leading silence (0.3 s) is outside every word, and words hold the loud frames
    assert ali.words[0].start >= 0.15
    assert db[inside].mean() > db[~inside].mean() + 10
    loud = db > np.percentile(db, 10) + 15
    assert (loud & inside).sum() / loud.sum() > 0.9


def test_phone_labels_line_up_with_unit_frames(aligner, espeak_utt):
    tokens = SENTENCE.split()
    ali = aligner.align(espeak_utt.audio, tokens, "espeak-1")
    rate = 50.0
    n_frames = int(espeak_utt.duration * rate)
    labels = frame_labels([(p.word, p.start, p.end) for p in ali.phones], n_frames, rate)
    assert len(labels) == n_frames
    # the frame at the middle of each word carries one of that word's dictionary phones
    for w in ali.words:
        mid = int((w.start + w.end) / 2 * rate)
        variants = [aligner.decoder.lookup_word(v) for v in [w.word] + [f"{w.word}({k})" for k in range(2, 5)]]
        assert labels[mid] in " ".join(v for v in variants if v).split(), (w, labels[mid])
    assert set(labels) <= {p.word for p in ali.phones}
    assert all(p.word == pa.SILENCE or p.word.isupper() for p in ali.phones)


def test_token_normalisation():
    assert pa.dict_words("Forty-eight,") == ["forty", "eight"]
    assert pa.dict_words("\"Don't\"") == ["don't"]
    assert pa.dict_words("...") == []


def test_bad_inputs_are_named(aligner, espeak_utt):
    with pytest.raises(pa.AlignError, match=r"utterance u1: word\(s\) not in the pronunciation dictionary: 'Zxqvbn'"):
        aligner.align(espeak_utt.audio, ["the", "Zxqvbn"], "u1")
    with pytest.raises(pa.AlignError, match="utterance u2: audio too short"):
        aligner.align(np.zeros(0, np.float32), ["hello"], "u2")
    with pytest.raises(pa.AlignError, match="utterance u3: empty transcript"):
        aligner.align(espeak_utt.audio, [], "u3")
    with pytest.raises(pa.AlignError, match="utterance u4: audio too short"):
        aligner.align(espeak_utt.audio[:1600], SENTENCE.split(), "u4")


def test_extra_dictionary_adds_missing_words(tmp_path, espeak_utt):
    extra = tmp_path / "extra.dic"
    extra.write_text("ZXQVBN Z IH K S\nTHE DH AH\n")
    al = pa.PocketSphinxAligner(extra_dict=str(extra))
    assert al.n_added == 1 and al.oov(["the", "zxqvbn"]) == []
    bad = tmp_path / "bad.dic"
    bad.write_text("ok OW K EY\nBROKEN\n")
    with pytest.raises(pa.AlignError, match=r"bad.dic:2: dictionary entry 'BROKEN' has no phones"):
        pa.PocketSphinxAligner(extra_dict=str(bad))


def test_cli_writes_ctms_and_counts_skips(tmp_path, espeak_utt, capsys):
    import soundfile

    from lst.bin import ps_align

    d = tmp_path / "data"
    d.mkdir()
    soundfile.write(d / "a.wav", espeak_utt.audio, 16000)
    (d / "wav.scp").write_text(f"good {d / 'a.wav'}\noov {d / 'a.wav'}\nnowav {d / 'missing.wav'}\n")
    (d / "text").write_text(f"good {SENTENCE}\noov the Zxqvbn dog\nnowav hello\n")
    rc = ps_align.main(["--data_dir", str(d), "--out_word_ctm", str(tmp_path / "w"),
                        "--out_phone_ali", str(tmp_path / "p")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "3 in, 1 aligned, 2 skipped" in out and "Zxqvbn" in out
    words, phones = read_ctm(tmp_path / "w"), read_ctm(tmp_path / "p")
    assert list(words) == ["good"] and [w.word for w in words["good"]] == SENTENCE.split()
    assert phones["good"][0].word == pa.SILENCE
    # scoring against the synthesizer's timings
    from lst.data.timings import write_ctm

    write_ctm(tmp_path / "ref", {"good": espeak_utt.words})
    assert ps_align.main(["score", "--data_dir", str(d), "--ref_ctm", str(tmp_path / "ref"),
                          "--out_json", str(tmp_path / "s.json")]) == 0
    import json

    s = json.loads((tmp_path / "s.json").read_text())
    assert s["n_utts"] == 1 and s["n_words"] == len(SENTENCE.split()) and s["median_abs_ms"] < 60
    # nothing alignable: failure
    (d / "text").write_text("oov the Zxqvbn dog\n")
    assert ps_align.main(["--data_dir", str(d), "--out_word_ctm", str(tmp_path / "w2")]) == 1


def test_compare_aligners_on_hand_made_timings(tmp_path, capsys):
    """egs/an4/lst1/local/compare_aligners.py: known boundary errors give known summaries."""
    import importlib.util
    import json

    from conftest import REPO_ROOT
    from lst.data.timings import WordTiming, write_ctm

    spec = importlib.util.spec_from_file_location("compare_aligners", REPO_ROOT / "egs/an4/lst1/local/compare_aligners.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ref = {"u": [WordTiming("A", 0.0, 1.0), WordTiming("B", 1.0, 2.0)]}
    hyp = {"u": [WordTiming("A", 0.03, 1.0), WordTiming("B", 1.0, 2.2)], "v": [WordTiming("C", 0, 1)]}
    write_ctm(tmp_path / "ref", ref)
    write_ctm(tmp_path / "hyp", hyp)
    assert mod.main(["--ref", str(tmp_path / "ref"), "--hyp", f"x={tmp_path / 'hyp'}", "--set", "s",
                     "--out_json", str(tmp_path / "o.json")]) == 0
    row = json.loads((tmp_path / "o.json").read_text())["rows"][0]
    # boundary errors 30, 0, 0, 200 ms
    assert row["n_utts"] == 1 and row["n_words"] == 2
    assert row["mean_abs_ms"] == 57.5 and row["median_abs_ms"] == 15.0
    assert row["within_40ms_pct"] == 75.0 and row["within_100ms_pct"] == 75.0
    assert row["start_mean_signed_ms"] == 15.0 and row["end_mean_signed_ms"] == 100.0
    speech = np.zeros(100, bool)
    speech[10:20] = speech[30:32] = speech[50:70] = True
    assert mod.speech_intervals(speech) == [(0.1, 0.2), (0.5, 0.7)]
