"""The independent recognizer (pocketsphinx, lst/downstream/recognizer.py) and its CLI."""
import json

import pytest
import soundfile

from conftest import SHARED

LJ = SHARED / "data" / "ljspeech" / "LJSpeech-1.1"
CLIP = LJ / "wavs" / "LJ001-0001.flac"
REF = ("Printing, in the only sense with which we are at present concerned, differs from most if "
       "not from all the arts and crafts represented in the Exhibition")


def test_normaliser_one_form_for_refs_and_hyps():
    from lst.downstream.recognizer import normalize_text

    assert normalize_text("Printing, in the  only sense;") == "PRINTING IN THE ONLY SENSE"
    assert normalize_text("the jailer\u2019s twenty-one 'quoted' (END)") == "THE JAILER'S TWENTY ONE QUOTED END"
    assert normalize_text(" -- ") == ""


def test_score_texts_counts_missing_hypotheses_as_deletions():
    from lst.downstream.recognizer import score_texts

    res = score_texts({"a": "Hello, world.", "b": "two words"}, {"a": "hello world"})
    assert res["wer"] == pytest.approx(50.0) and res["missing"] == 1 and res["n_words"] == 4


@pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP} not present")
def test_real_lj_clip_is_recognised(one_torch_thread):
    from lst.downstream.recognizer import PocketSphinxRecognizer, score_texts

    wav, sr = soundfile.read(CLIP, dtype="float32")
    assert sr == 22050  # resampled to 16 kHz inside
    rec = PocketSphinxRecognizer()
    hyp = rec.transcribe(wav, sr)
    res = score_texts({"u": REF}, {"u": hyp})
    assert res["wer"] < 35.0, hyp  # measured 8 % (2 of 25 words)
    assert rec.audio_seconds == pytest.approx(len(wav) / sr, rel=1e-3) and rec.rtf > 0
    # silence gives no words, and the decoder is reusable after it
    assert rec.transcribe(wav[:1600] * 0.0, sr) == ""


@pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP} not present")
def test_cli_writes_text_and_score(tmp_path, one_torch_thread):
    from lst.bin.recognize import main

    scp = tmp_path / "wav.scp"
    scp.write_text(f"LJ001-0002 {LJ / 'wavs' / 'LJ001-0002.flac'}\nbroken {tmp_path / 'missing.wav'}\n")
    ref = tmp_path / "text"
    ref.write_text("LJ001-0002 in being comparatively modern.\nbroken SOME WORDS\n")
    assert main(["--wav_scp", str(scp), "--output_dir", str(tmp_path / "out"), "--ref_text", str(ref)]) == 0
    hyps = dict(line.split(" ", 1) for line in (tmp_path / "out" / "text").read_text().splitlines())
    assert list(hyps) == ["LJ001-0002"] and "BEING" in hyps["LJ001-0002"].upper()
    score = json.loads((tmp_path / "out" / "score.json").read_text())
    assert score["skipped"] == 1 and score["n_utts"] == 2 and score["missing"] == 1
    assert score["recognizer"] == "pocketsphinx" and 0 < score["rtf"]
    # the unreadable clip counts as 2 deleted words of 6
    assert score["wer"] >= 100.0 * 2 / 6
