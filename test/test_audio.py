"""lst.audio.load_audio: repairs what is sound to repair, names the file otherwise."""
import numpy as np
import pytest
import soundfile

from lst.audio import AudioError, load_audio


def tone(freq, sr, seconds=1.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    wav = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wav] * channels, axis=1) if channels > 1 else wav


def dominant_hz(wav, sr):
    spectrum = np.abs(np.fft.rfft(wav))
    return np.argmax(spectrum) * sr / len(wav)


def test_16k_mono_is_returned_as_is(tmp_path):
    path = tmp_path / "a.wav"
    wav = tone(440, 16000)
    soundfile.write(path, wav, 16000, subtype="FLOAT")
    notes = []
    out = load_audio(str(path), notes=notes)
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_allclose(out, wav, atol=1e-6)
    assert notes == []


def test_stereo_is_averaged_to_mono(tmp_path):
    path = tmp_path / "st.wav"
    left, right = tone(440, 16000), tone(1000, 16000)
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    notes = []
    out = load_audio(str(path), notes=notes)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-6)
    assert notes == ["downmixed"]


@pytest.mark.parametrize("sr", [8000, 44100])
def test_other_rates_are_resampled_keeping_pitch(tmp_path, sr):
    path = tmp_path / f"r{sr}.wav"
    soundfile.write(path, tone(440, sr, seconds=2.0), sr)
    notes = []
    out = load_audio(str(path), notes=notes)
    assert notes == ["resampled"]
    assert abs(len(out) - 32000) <= 2
    assert abs(dominant_hz(out, 16000) - 440) < 2


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0), 16000)
    with pytest.raises(AudioError) as err:
        load_audio(str(path))
    assert err.value.reason == "empty"
    assert str(path) in str(err.value)


def test_corrupt_header_is_reported(tmp_path):
    path = tmp_path / "corrupt.wav"
    good = tmp_path / "good.wav"
    soundfile.write(good, tone(440, 16000), 16000)
    data = bytearray(good.read_bytes())
    data[8:16] = b"JUNKJUNK"  # destroy the WAVE/fmt chunk ids
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as err:
        load_audio(str(path))
    assert err.value.reason == "unreadable"
    assert str(path) in str(err.value)


def test_zero_byte_file_and_missing_file(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(AudioError) as err:
        load_audio(str(tmp_path / "zero.wav"))
    assert err.value.reason == "unreadable"
    with pytest.raises(AudioError) as err:
        load_audio(str(tmp_path / "nope.wav"))
    assert err.value.reason == "missing"


def test_kaldi_pipe_entries(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, tone(440, 16000), 16000)
    out = load_audio(f"cat {path} |")
    assert len(out) == 16000
    with pytest.raises(AudioError) as err:
        load_audio(f"cat {tmp_path}/missing.wav |")
    assert err.value.reason == "unreadable" and "pipe failed" in str(err.value)
