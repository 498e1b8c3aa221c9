"""The unit CLIs end to end: format_wav -> dump_features -> learn_kmeans -> dump_units."""
import json
import logging
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import soundfile

from lst.bin import dump_features, dump_units, format_wav, learn_kmeans
from lst.units.io import ToolError, read_int_sequences, read_kaldi_map
from lst.units.kmeans import expand
from test_units_features import save_tiny_hubert, speechy

SR = 16000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A Kaldi data dir with 5 usable recordings (16k, stereo, 8k, 44.1k) and 3 bad ones."""
    root = tmp_path_factory.mktemp("units_cli")
    src = root / "src"
    src.mkdir()
    entries = {}
    for i in range(2):
        soundfile.write(src / f"good{i}.wav", speechy(2.0, seed=i), SR)
        entries[f"spkA-good{i}"] = str(src / f"good{i}.wav")
    soundfile.write(src / "st.wav", np.stack([speechy(1.5, 2)] * 2, axis=1), SR)
    entries["spkA-stereo"] = str(src / "st.wav")
    for sr in (8000, 44100):
        wav = speechy(1.5, 3)
        resampled = np.interp(np.arange(int(1.5 * sr)) * SR / sr, np.arange(len(wav)), wav)
        soundfile.write(src / f"r{sr}.wav", resampled, sr)
        entries[f"spkB-sr{sr}"] = str(src / f"r{sr}.wav")
    soundfile.write(src / "empty.wav", np.zeros(0), SR)
    entries["spkB-empty"] = str(src / "empty.wav")
    (src / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    entries["spkB-corrupt"] = str(src / "corrupt.wav")
    entries["spkB-missing"] = str(src / "missing.wav")

    data = root / "data" / "train"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in entries.items()))
    (data / "text").write_text("".join(f"{u} HELLO {u.upper()}\n" for u in entries))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in entries))
    spk2utt = {}
    for u in entries:
        spk2utt.setdefault(u.split("-")[0], []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in spk2utt.items()))
    (data / "word_ctm").write_text("".join(f"{u} HELLO 0.20 0.50\n" for u in entries))
    return root


@pytest.fixture(scope="module")
def pipeline(data_dir):
    """Run the four tools once (MFCC, 50 Hz); tests inspect the outputs."""
    raw, feats, km, units = (str(data_dir / d) for d in ("raw", "feats", "km", "units"))
    format_wav.main(["--wav_scp", str(data_dir / "data/train/wav.scp"), "--out_dir", raw,
                     "--nj", "2"])
    dump_features.main(["--wav_scp", f"{raw}/wav.scp", "--out_dir", feats,
                        "--feature_type", "mfcc"])
    learn_kmeans.main(["--feats_dir", feats, "--n_clusters", "6", "--out_dir", km,
                       "--max_frames", "300"])
    dump_units.main(["--feats_dir", feats, "--km_dir", km, "--out_dir", units])
    return dict(raw=raw, feats=feats, km=km, units=units, root=data_dir)


GOOD = ["spkA-good0", "spkA-good1", "spkA-stereo", "spkB-sr8000", "spkB-sr44100"]


def test_format_wav_repairs_and_reports(pipeline):
    raw = pipeline["raw"]
    scp = read_kaldi_map(f"{raw}/wav.scp")
    assert [u for u, _ in scp] == GOOD
    for utt, path in scp:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    durs = dict(read_kaldi_map(f"{raw}/utt2dur"))
    assert float(durs["spkB-sr44100"]) == pytest.approx(1.5, abs=1e-3)
    skipped = dict(read_kaldi_map(f"{raw}/skipped"))
    assert skipped["spkB-empty"].startswith("empty")
    assert skipped["spkB-corrupt"].startswith("unreadable")
    assert skipped["spkB-missing"].startswith("missing")
    assert [u for u, _ in read_kaldi_map(f"{raw}/text")] == GOOD
    assert [u for u, _ in read_kaldi_map(f"{raw}/word_ctm")] == GOOD
    assert dict(read_kaldi_map(f"{raw}/spk2utt"))["spkB"] == "spkB-sr8000 spkB-sr44100"


def test_format_wav_summary_line(data_dir, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        format_wav.main(["--wav_scp", str(data_dir / "data/train/wav.scp"),
                         "--out_dir", str(tmp_path / "raw")])
    assert ("format_wav: 8 in, 5 written, 3 skipped (empty: 1, missing: 1, unreadable: 1); "
            "downmixed: 1, resampled: 2") in caplog.text
    # each skip names the utterance and the file
    assert f"skipping spkB-empty: empty ({data_dir}/src/empty.wav: 0 samples)" in caplog.text
    assert f"skipping spkB-corrupt: unreadable ({data_dir}/src/corrupt.wav: " in caplog.text


def test_features_and_metadata(pipeline):
    feats = pipeline["feats"]
    info = json.load(open(f"{feats}/feat_info.json"))
    assert (info["feature_type"], info["dim"], info["frame_rate_hz"]) == ("mfcc", 39, 50)
    num = {u: int(n) for u, n in read_kaldi_map(f"{feats}/utt2num_frames")}
    assert list(num) == GOOD and num["spkA-good0"] == 99 and num["spkA-stereo"] == 74
    for utt, mat in kaldiio.load_scp_sequential(f"{feats}/feats.scp"):
        assert mat.shape == (num[utt], 39)
    for utt, energy in kaldiio.load_scp_sequential(f"{feats}/energy.scp"):
        assert energy.shape == (num[utt],)


def test_kmeans_outputs_and_silence_units(pipeline):
    km = pipeline["km"]
    info = json.load(open(f"{km}/km_info.json"))
    assert (info["n_clusters"], info["feature_type"], info["n_train_frames"]) == (6, "mfcc", 300)
    report = json.load(open(f"{km}/silence_units.json"))
    assert len(report["silence_fraction"]) == 6 and sum(report["frame_count"]) == 300
    # the test audio is ~half near-silence: some cluster must be a silence unit, not all
    assert 1 <= len(report["silence_units"]) < 6
    units = read_int_sequences(f"{pipeline['units']}/units")
    energy = dict(kaldiio.load_scp_sequential(f"{pipeline['feats']}/energy.scp"))
    silent_frames = np.concatenate([energy[u] - energy[u].max() < -30 for u in units])
    in_silence_unit = np.isin(np.concatenate(list(units.values())), report["silence_units"])
    assert (silent_frames == in_silence_unit).mean() > 0.9


def test_units_dedup_round_trip_and_nj_invariance(pipeline, tmp_path):
    plain = read_int_sequences(f"{pipeline['units']}/units")
    assert list(plain) == GOOD
    info = json.load(open(f"{pipeline['units']}/unit_info.json"))
    assert info["unit_rate_hz"] == 50 and info["n_units"] == 6 and info["dedup"] is False
    assert not os.path.exists(f"{pipeline['units']}/durations")
    out = str(tmp_path / "dedup")
    dump_units.main(["--feats_dir", pipeline["feats"], "--km_dir", pipeline["km"],
                     "--out_dir", out, "--dedup", "true", "--nj", "2"])
    assert json.load(open(f"{out}/unit_info.json"))["dedup"] is True
    values = read_int_sequences(f"{out}/units")
    durations = read_int_sequences(f"{out}/durations")
    for utt in GOOD:
        assert len(values[utt]) < len(plain[utt])
        np.testing.assert_array_equal(expand(values[utt], durations[utt]), plain[utt])


def test_ssl_features_at_25hz_through_the_cli(pipeline, tmp_path):
    ckpt = save_tiny_hubert(tmp_path / "tiny.pt")
    out = str(tmp_path / "ssl")
    dump_features.main(["--wav_scp", f"{pipeline['raw']}/wav.scp", "--out_dir", out,
                        "--feature_type", "ssl", "--ssl_ckpt", ckpt, "--ssl_layer", "1",
                        "--frame_rate_hz", "25"])
    info = json.load(open(f"{out}/feat_info.json"))
    assert (info["feature_type"], info["dim"], info["frame_rate_hz"], info["ssl_layer"]) == \
        ("ssl", 32, 25, 1)
    num50 = {u: int(n) for u, n in read_kaldi_map(f"{pipeline['feats']}/utt2num_frames")}
    for utt, mat in kaldiio.load_scp_sequential(f"{out}/feats.scp"):
        assert mat.shape == ((num50[utt] + 1) // 2, 32)
    learn_kmeans.main(["--feats_dir", out, "--n_clusters", "4", "--out_dir", f"{out}/km"])
    dump_units.main(["--feats_dir", out, "--km_dir", f"{out}/km", "--out_dir", f"{out}/units"])
    assert json.load(open(f"{out}/units/unit_info.json"))["unit_rate_hz"] == 25
    # a codebook from another feature space is refused
    with pytest.raises(ToolError, match="feature_type=ssl but .* learned on feature_type=mfcc"):
        dump_units.main(["--feats_dir", out, "--km_dir", pipeline["km"],
                         "--out_dir", str(tmp_path / "bad")])


def test_missing_inputs_and_all_skipped(tmp_path, data_dir):
    with pytest.raises(ToolError) as err:
        dump_units.main(["--feats_dir", str(tmp_path / "nofeats"), "--km_dir", "x",
                         "--out_dir", str(tmp_path / "u")])
    assert str(err.value) == (f"dump_units: {tmp_path}/nofeats/feats.scp not found "
                              "(made by python -m lst.bin.dump_features)")
    bad = tmp_path / "bad.scp"
    bad.write_text(f"a {data_dir}/src/empty.wav\nb {data_dir}/src/corrupt.wav\n")
    with pytest.raises(ToolError, match="all 2 inputs were skipped"):
        format_wav.main(["--wav_scp", str(bad), "--out_dir", str(tmp_path / "raw")])
    with pytest.raises(ToolError, match="all 2 inputs were skipped"):
        dump_features.main(["--wav_scp", str(bad), "--out_dir", str(tmp_path / "f")])


def test_command_line_failure_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lst.bin.learn_kmeans", "--feats_dir", str(tmp_path),
         "--n_clusters", "4", "--out_dir", str(tmp_path / "km")],
        capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"learn_kmeans: {tmp_path}/feat_info.json not found "
                                     "(made by python -m lst.bin.dump_features)")
