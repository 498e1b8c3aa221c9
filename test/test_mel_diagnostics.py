"""egs/ljspeech/tts1/local/mel_diagnostics.py: the controlled mel changes behind the vocoder analysis in
tts1/RESULTS.md (true-mel degradations, post-filters on a vocoder's mel, oracle excitation and pitch,
smoothness ratios), on two toy clips and a toy vocoder."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lst.vocoder import train_vocoder

TOOL = Path(__file__).resolve().parents[1] / "egs" / "ljspeech" / "tts1" / "local" / "mel_diagnostics.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("mel_diagnostics", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toy_clips(tmp_path):
    """Two 0.6 s clips, units alternating every 100 ms between a 180 Hz harmonic tone (even ids) and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(30 * 320) / 16000
    tone = sum(np.sin(2 * np.pi * k * 180 * t) / k for k in range(1, 6)) * 0.2
    pairs, scp, units = [], [], []
    for i in range(2):
        u = np.repeat([0, 1, 2, 3, 0, 1], 5) if i == 0 else np.repeat([2, 3, 2, 1, 0, 3], 5)
        voiced = np.repeat(u % 2 == 0, 320)
        wav = np.where(voiced, tone, 0.05 * rng.standard_normal(len(t))).astype(np.float32)
        soundfile.write(tmp_path / f"c{i}.wav", wav, 16000)
        pairs.append((f"spk-c{i}", wav, u))
        scp.append(f"spk-c{i} {tmp_path / f'c{i}.wav'}")
        units.append(f"spk-c{i} " + " ".join(map(str, u)))
    (tmp_path / "wav.scp").write_text("\n".join(scp) + "\n")
    (tmp_path / "units").write_text("\n".join(units) + "\n")
    return pairs


def read_scp(path):
    return dict(line.split(maxsplit=1) for line in Path(path).read_text().splitlines())


def test_mel_changes_do_what_they_say():
    tool = load_tool()
    m = np.random.default_rng(0).standard_normal((40, 80)).astype(np.float32)
    assert np.abs(np.diff(tool.mel_change("blur_t5")(m), axis=0)).mean() < 0.5 * np.abs(np.diff(m, axis=0)).mean()
    assert np.abs(np.diff(tool.mel_change("blur_f1.5")(m), axis=1)).mean() < 0.5 * np.abs(np.diff(m, axis=1)).mean()
    np.testing.assert_allclose(tool.mel_change("shrink0.5")(m).std(0), 0.5 * m.std(0), rtol=1e-4)
    np.testing.assert_allclose(tool.mel_change("cep0")(m), m, atol=1e-5)  # beta 0: unchanged
    sharp = tool.mel_change("cep0.5")(m)
    np.testing.assert_allclose(sharp.mean(1), m.mean(1), atol=1e-4)  # coefficient 0 (the frame's level) is kept
    assert np.abs(np.diff(sharp, axis=1)).mean() > np.abs(np.diff(m, axis=1)).mean()
    with pytest.raises(SystemExit, match="unknown variant 'wobble'"):
        tool.mel_change("wobble")


def test_true_mel_vocoder_and_stats_modes(tmp_path, capsys):
    tool = load_tool()
    pairs = toy_clips(tmp_path)
    out = tmp_path / "true"
    assert tool.main(["true_mel", "--wav_scp", str(tmp_path / "wav.scp"), "--out_dir", str(out),
                      "--variants", "none,blur_t3,excitation_oracle_f0"]) == 0
    for v in ("none", "blur_t3", "excitation_oracle_f0"):
        scp = read_scp(out / v / "wav.scp")
        assert sorted(scp) == ["spk-c0", "spk-c1"]
        wav, sr = soundfile.read(scp["spk-c0"])
        assert sr == 16000 and abs(len(wav) - 9600) <= 320 and np.abs(wav).max() > 0.1
    voc, _ = train_vocoder(pairs, n_units=4, unit_rate_hz=50, steps=20, d=16, n_layers=1, log_every=0, pitch_bins=8)
    voc.save(str(tmp_path / "v.pth"))
    common = ["--wav_scp", str(tmp_path / "wav.scp"), "--vocoder", str(tmp_path / "v.pth"), "--units", str(tmp_path / "units")]
    assert tool.main(["vocoder", *common, "--out_dir", str(tmp_path / "voc"), "--variants", "none,cep0.2,pitch_oracle"]) == 0
    assert sorted(read_scp(tmp_path / "voc" / "pitch_oracle" / "wav.scp")) == ["spk-c0", "spk-c1"]
    capsys.readouterr()
    assert tool.main(["stats", *common]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["utterances"] == 2
    assert set(stats["predicted_over_recorded"]) == {"time_diff", "freq_diff", "std_over_time"}
    assert all(v > 0 for v in stats["predicted_over_recorded"].values())
