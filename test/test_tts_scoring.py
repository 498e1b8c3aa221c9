"""tts.sh scoring (issue 14): the RESULTS table/json with the independent recognizer's and the
ESPnet ASR's columns, lst.bin.recognize's completion marker and --resume (with a fake
recognizer), and injective wav names of lst.bin.vocode_units."""
import argparse
import json

import numpy as np
import pytest
import soundfile

from lst.downstream.results import TTS_JSON_KEYS, tts


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def ps_score(wer, cer, n_utts=2, audio_seconds=3.0, rtf=0.25):
    return {"wer": wer, "cer": cer, "n_utts": n_utts, "audio_seconds": audio_seconds, "rtf": rtf,
            "recognizer": "pocketsphinx"}


def fake_tts_exp(root, with_asr: bool):
    """exp/ of a tts.sh run after stage 8: original, reference and two systems on 'test'."""
    dec = {s: root / f"tts_{s}" / "decode_test" for s in ("original", "reference", "token_lm", "lst")}
    write_json(dec["original"] / "pocketsphinx" / "score.json", ps_score(20.0, 10.0, audio_seconds=5.5))
    write_json(dec["reference"] / "pocketsphinx" / "score.json", ps_score(40.0, 25.0))
    for m, wer, steps_per_s, secs_per_s in (("token_lm", 70.0, 50.0, 0.8), ("lst", 60.0, 12.5, 0.2)):
        write_json(dec[m] / "pocketsphinx" / "score.json", ps_score(wer, wer / 2))
        write_json(dec[m] / "score.json", {"unit_error_rate": 55.0})
        write_json(dec[m] / "decode_info.json", {"summary": {
            "n_utts": 2, "speech_seconds": 4.0, "speech_global_steps": int(4 * steps_per_s),
            "global_steps_per_speech_second": steps_per_s, "decode_seconds": 4 * secs_per_s,
            "decode_seconds_per_speech_second": secs_per_s}})
    if with_asr:
        for s, wer in (("original", 5.0), ("reference", 30.0), ("token_lm", 80.0), ("lst", 75.0)):
            write_json(dec[s] / "asr_score.json", {"wer": wer, "cer": wer / 4, "n_utts": 2})


def test_tts_results_carry_both_recognizers(tmp_path, capsys):
    fake_tts_exp(tmp_path, with_asr=True)
    out = tmp_path / "RESULTS.md"
    tts(argparse.Namespace(expdir=str(tmp_path), models="token_lm lst", sets="test", out=str(out)))
    text = out.read_text()
    assert ("| system | set | WER | CER | ESPnet-ASR WER | ESPnet-ASR CER | UER | speech s | global steps | "
            "steps / speech s | decode s | decode s / speech s |") in text
    assert "| original | test | 20.00 | 10.00 | 5.00 | 1.25 | - | 5.50 | - | - | - | - |" in text
    assert "| reference | test | 40.00 | 25.00 | 30.00 | 7.50 | 0.00 | 3.00 | - | - | - | - |" in text
    assert "| lst | test | 60.00 | 30.00 | 75.00 | 18.75 | 55.00 | 4.00 | 50 | 12.50 | 0.80 | 0.20 |" in text
    assert "| test | 50.00 | 12.50 | 4.00 | 0.80 | 0.20 | 4.00 |" in text  # 4x fewer steps, 4x faster
    rows = json.loads((tmp_path / "RESULTS.json").read_text())
    assert [r["system"] for r in rows] == ["original", "reference", "token_lm", "lst"]
    assert all(list(r) == TTS_JSON_KEYS for r in rows)
    lst = rows[3]
    assert (lst["wer"], lst["cer"], lst["asr_wer"], lst["uer"], lst["global_steps"]) == (60.0, 30.0, 75.0, 55.0, 50)
    assert rows[0]["speech_s"] == 5.5 and rows[0]["recognizer_rtf"] == 0.25 and rows[0]["uer"] is None
    capsys.readouterr()


def test_tts_results_without_espnet_asr_have_no_empty_columns(tmp_path, capsys):
    fake_tts_exp(tmp_path, with_asr=False)
    out = tmp_path / "RESULTS.md"
    tts(argparse.Namespace(expdir=str(tmp_path), models="", sets="test", out=str(out)))  # vocoder floor only
    text = out.read_text()
    assert "ESPnet-ASR" not in text
    assert "| original | test | 20.00 | 10.00 | - | 5.50 |" in text
    rows = json.loads((tmp_path / "RESULTS.json").read_text())
    assert [r["system"] for r in rows] == ["original", "reference"]
    assert rows[1]["asr_wer"] is None and rows[1]["wer"] == 40.0
    capsys.readouterr()


class FakeRecognizer:
    """Stands in for pocketsphinx: 'hello world' for loud audio, '' for silence; counts calls."""

    calls = 0

    def __init__(self, config=None):
        self.audio_seconds, self.decode_seconds = 0.0, 0.0

    def transcribe(self, wav, sr):
        FakeRecognizer.calls += 1
        self.audio_seconds += len(wav) / sr
        self.decode_seconds += 0.1
        return "hello world" if np.abs(wav).max() > 0.05 else ""

    @property
    def rtf(self):
        return self.decode_seconds / max(self.audio_seconds, 1e-9)


@pytest.fixture
def fake_recognizer(monkeypatch):
    import lst.bin.recognize as recognize

    monkeypatch.setattr(recognize, "PocketSphinxRecognizer", FakeRecognizer)
    FakeRecognizer.calls = 0
    return recognize


def test_recognize_scores_and_resumes(tmp_path, fake_recognizer):
    from lst.stage_io import read_marker

    loud = (0.3 * np.sin(np.arange(8000) / 5.0)).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", loud, 16000)
    soundfile.write(tmp_path / "b.wav", np.zeros(8000, np.float32), 16000)
    (tmp_path / "wav.scp").write_text(f"a {tmp_path / 'a.wav'}\nb {tmp_path / 'b.wav'}\n")
    (tmp_path / "text").write_text("a Hello, world!\nb two words\n")
    out = tmp_path / "ps"
    argv = ["--wav_scp", str(tmp_path / "wav.scp"), "--ref_text", str(tmp_path / "text"), "--output_dir", str(out),
            "--resume", "true"]
    assert fake_recognizer.main(argv) == 0
    score = json.loads((out / "score.json").read_text())
    # a: exact after normalisation (punctuation, case); b: 2 deletions -> 2 errors / 4 words
    assert score["wer"] == pytest.approx(50.0) and score["n_utts"] == 2 and score["recognizer"] == "pocketsphinx"
    assert (out / "text").read_text() == "a hello world\nb \n"
    assert read_marker(out)["counts"] == {"in": 2, "written": 2, "skipped": 0}
    assert FakeRecognizer.calls == 2
    # same audio, reference and options: nothing is recognized again
    assert fake_recognizer.main(argv) == 0
    assert FakeRecognizer.calls == 2
    # new audio content under the same path: recognized again
    soundfile.write(tmp_path / "b.wav", loud, 16000)
    assert fake_recognizer.main(argv) == 0
    assert FakeRecognizer.calls == 4
    assert json.loads((out / "score.json").read_text())["wer"] == pytest.approx(50.0)  # b: 2 subs of 4 words
    # another option (a domain LM): recognized again
    assert fake_recognizer.main(argv + ["--lm", "my.lm"]) == 0
    assert FakeRecognizer.calls == 6
    # without --resume it always runs
    assert fake_recognizer.main(argv[:-2]) == 0
    assert FakeRecognizer.calls == 8


def test_recognize_refuses_missing_reference_before_decoding(tmp_path, fake_recognizer, caplog):
    soundfile.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "wav.scp").write_text(f"a {tmp_path / 'a.wav'}\nzz {tmp_path / 'a.wav'}\n")
    (tmp_path / "text").write_text("a hello\n")
    rc = fake_recognizer.main(["--wav_scp", str(tmp_path / "wav.scp"), "--ref_text", str(tmp_path / "text"),
                               "--output_dir", str(tmp_path / "ps")])
    assert rc == 1 and FakeRecognizer.calls == 0 and not (tmp_path / "ps").exists()
    assert "no reference for 1 utterances" in caplog.text and "e.g. zz" in caplog.text


def test_vocode_units_wav_names_are_injective_and_safe(tmp_path):
    from lst.bin.vocode_units import main
    from lst.data.kaldi_dir import read_kaldi_map
    from test_vocoder import small_vocoder

    small_vocoder(6).save(str(tmp_path / "voc.pth"))
    ids = ["spk/a", "spk%2Fa", "spk_a", ".."]  # '/' would be a directory; the first two collided if unescaped
    (tmp_path / "units").write_text("".join(f"{u} 1 2 3 4 5\n" for u in ids))
    assert main(["--vocoder", str(tmp_path / "voc.pth"), "--units", str(tmp_path / "units"),
                 "--output_dir", str(tmp_path / "out"), "--griffin_lim_iters", "2"]) == 0
    scp = read_kaldi_map(tmp_path / "out" / "wav.scp")
    assert list(scp) == ids
    paths = list(scp.values())
    assert len(set(paths)) == len(ids)
    for p in paths:
        assert p.startswith(str((tmp_path / "out" / "wav").resolve()) + "/")
        assert "/" not in p[len(str((tmp_path / "out" / "wav").resolve())) + 1:]
        audio, sr = soundfile.read(p)
        assert sr == 16000 and len(audio) > 0
    assert len(list((tmp_path / "out" / "wav").iterdir())) == len(ids)


def test_vocode_units_bad_units_leave_no_wav_scp(tmp_path, caplog):
    from lst.bin.vocode_units import main
    from test_vocoder import small_vocoder

    small_vocoder(6).save(str(tmp_path / "voc.pth"))
    (tmp_path / "units").write_text("u1 1 2 3\nu2 1 99\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "wav.scp").write_text("old list\n")
    assert main(["--vocoder", str(tmp_path / "voc.pth"), "--units", str(tmp_path / "units"),
                 "--output_dir", str(tmp_path / "out"), "--griffin_lim_iters", "2"]) == 1
    assert "u2" in caplog.text and not (tmp_path / "out" / "wav.scp").exists()
