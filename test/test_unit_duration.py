"""Deduplicated units through the TTS path: the duration model (back-off means, carried
rounding), a vocoder trained on deduplicated units with their durations, the CLIs that read
the ``durations`` file beside the units, and tts_inference's checks that package and vocoder
agree on deduplication."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lst.units.kmeans import dedup
from lst.vocoder import UnitVocoder, VocoderInputError, train_vocoder
from lst.vocoder.duration import EDGE, UnitDurationModel, contexts, read_durations, round_carry
from test_vocoder import toy_pairs


def test_contexts_and_carried_rounding():
    assert contexts([4, 7, 2]) == [(EDGE, 4, 7), (4, 7, 2), (7, 2, EDGE)]
    # 1.4 x 5 = 7.0 frames: rounding each unit alone would give 5; carrying the residual gives 7
    out = round_carry(np.full(5, 1.4))
    assert out.sum() == 7 and set(out.tolist()) <= {1, 2}
    assert round_carry(np.array([0.2, 0.2])).tolist() == [1, 1]  # never below one frame


def test_back_off_from_context_to_unit_to_corpus_mean():
    # unit 1 lasts 6 frames between 0 and 2, 2 frames elsewhere
    pairs = [([0, 1, 2], [3, 6, 3])] * 3 + [([3, 1, 3], [3, 2, 3])] * 3
    model = UnitDurationModel.fit(pairs, n_units=5, min_count=3)
    assert model.mean_durations([0, 1, 2])[1] == pytest.approx(6.0)  # its context, seen 3 times
    assert model.mean_durations([2, 1, 0])[1] == pytest.approx(4.0)  # unseen context: unit 1's mean
    assert model.mean_durations([4])[0] == pytest.approx(model.global_mean)  # unit 4 never seen
    assert model.predict([0, 1, 2]).tolist() == [3, 6, 3]
    strict = UnitDurationModel.fit(pairs, n_units=5, min_count=4)  # no context seen 4 times
    assert strict.mean_durations([0, 1, 2])[1] == pytest.approx(4.0)
    back = UnitDurationModel.from_state(model.state())
    assert back.predict([0, 1, 2, 1, 3]).tolist() == model.predict([0, 1, 2, 1, 3]).tolist()
    err = model.error(pairs)
    assert err["unit_mae_frames"] == 0 and err["n_units"] == 18
    with pytest.raises(ValueError, match="3 units but 2 durations"):
        UnitDurationModel.fit([([0, 1, 2], [1, 1])], n_units=5)
    with pytest.raises(ValueError, match="outside"):
        UnitDurationModel.fit([([9], [1])], n_units=5)


def dedup_pairs(seed=0):
    """toy_pairs (one sine per unit and 20 ms frame) as deduplicated units + durations."""
    out, durs = [], {}
    for utt, wav, units in toy_pairs(seed=seed, seconds=0.6):
        units = np.repeat(units[::3], 3)[:len(units)]  # runs of 3 frames, so dedup matters
        values, d = dedup(units)
        out.append((utt, wav, values))
        durs[utt] = d
    return out, durs


def test_vocoder_on_deduplicated_units(tmp_path):
    pairs, durs = dedup_pairs()
    voc, info = train_vocoder(pairs, n_units=6, unit_rate_hz=50, steps=20, d=16, n_layers=1, log_every=0,
                              durations=durs)
    assert voc.deduplicated and info["n_frames"] == sum(int(d.sum()) for d in durs.values())
    n_frames, n_values = sum(int(d.sum()) for d in durs.values()), sum(len(d) for d in durs.values())
    assert info["duration_model"]["mean_frames"] == pytest.approx(n_frames / n_values) and n_frames > n_values
    voc.save(str(tmp_path / "v.pth"))
    back = UnitVocoder.load(str(tmp_path / "v.pth"), griffin_lim_iters=2)
    assert back.deduplicated
    utt, _, values = pairs[0]
    np.testing.assert_array_equal(back.expand_units(values, utt, durs[utt]), np.repeat(values, durs[utt]))
    assert len(back.expand_units([1, 2, 3], "u")) == back.duration_model.predict([1, 2, 3]).sum()
    frames = len(back.expand_units(values, utt, [5] * len(values)))
    hop = 16000 // 50
    assert len(back.synthesize(values, utt, [5] * len(values))) == pytest.approx(frames * hop, abs=hop)
    with pytest.raises(VocoderInputError, match="u7: 2 durations for 3 units"):
        back.expand_units([1, 2, 3], "u7", [1, 1])
    with pytest.raises(VocoderInputError, match="u8: unit ids \\[9\\]"):
        back.expand_units([1, 9], "u8")
    frame_voc, _ = train_vocoder(toy_pairs(), n_units=6, unit_rate_hz=50, steps=2, d=16, n_layers=1, log_every=0)
    with pytest.raises(VocoderInputError, match="one unit per frame"):
        frame_voc.expand_units([1, 2], "u9", [1, 1])
    with pytest.raises(VocoderInputError, match="utt0: 1 durations for"):
        train_vocoder(pairs, n_units=6, unit_rate_hz=50, steps=1, durations={**durs, "utt0": [3]})


def write_dedup_dir(tmp_path: Path, durations: bool = True):
    pairs, durs = dedup_pairs()
    d = tmp_path / "units"
    d.mkdir()
    lines = []
    for utt, wav, _ in pairs:
        soundfile.write(tmp_path / f"{utt}.wav", wav, 16000)
        lines.append(f"{utt} {tmp_path / (utt + '.wav')}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    (d / "units").write_text("".join(f"{u} {' '.join(map(str, v))}\n" for u, _, v in pairs))
    if durations:
        (d / "durations").write_text("".join(f"{u} {' '.join(map(str, x))}\n" for u, x in durs.items()))
    (d / "unit_info.json").write_text(json.dumps({"unit_rate_hz": 50, "n_units": 6, "dedup": True}))
    return d, durs


def test_cli_train_and_vocode_deduplicated_units(tmp_path, caplog):
    from lst.bin.train_vocoder import main as train_main
    from lst.bin.vocode_units import main as vocode_main

    caplog.set_level("INFO")
    d, durs = write_dedup_dir(tmp_path)
    args = ["--wav_scp", str(tmp_path / "wav.scp"), "--units", str(d / "units"), "--n_units", "6",
            "--unit_rate_hz", "50", "--steps", "2", "--d", "16", "--n_layers", "1"]
    assert train_main(args + ["--out_dir", str(tmp_path / "voc")]) == 0
    info = json.loads((tmp_path / "voc/train_info.json").read_text())
    assert info["n_frames"] == sum(int(x.sum()) for x in durs.values()) and "duration_model" in info
    voc = str(tmp_path / "voc/vocoder.pth")
    # auto: the reference durations beside the units
    assert vocode_main(["--vocoder", voc, "--units", str(d / "units"), "--output_dir", str(tmp_path / "ref"),
                        "--griffin_lim_iters", "2"]) == 0
    utt = "utt0"
    wav, _ = soundfile.read(tmp_path / "ref/wav" / f"{utt}.wav")
    assert len(wav) == pytest.approx(int(durs[utt].sum()) * 320, abs=320)
    assert vocode_main(["--vocoder", voc, "--units", str(d / "units"), "--output_dir", str(tmp_path / "pred"),
                        "--griffin_lim_iters", "2", "--durations", "predict"]) == 0
    assert "durations: the vocoder duration model" in caplog.text
    values = (d / "units").read_text().split("\n")[0].split()[1:]
    predicted = int(UnitVocoder.load(voc).duration_model.predict([int(x) for x in values]).sum())
    assert len(soundfile.read(tmp_path / "pred/wav" / f"{utt}.wav")[0]) == pytest.approx(predicted * 320, abs=320)
    # a durations file that lacks an utterance names it
    (tmp_path / "short_durs").write_text(f"utt1 {' '.join(map(str, durs['utt1']))}\n")
    assert vocode_main(["--vocoder", voc, "--units", str(d / "units"), "--output_dir", str(tmp_path / "bad"),
                        "--durations", str(tmp_path / "short_durs")]) == 1
    assert "utt0: not in the durations file" in caplog.text
    # deduplicated units without their durations: one line naming the missing file
    (d / "durations").unlink()
    caplog.clear()
    assert train_main(args + ["--out_dir", str(tmp_path / "voc2")]) == 1
    assert f"{d / 'durations'} not found" in caplog.text
    (d / "durations").write_text("utt0 3 x\n")
    assert train_main(args + ["--out_dir", str(tmp_path / "voc3")]) == 1
    assert "utt0: durations must be integers" in caplog.text
    assert read_durations.__doc__  # the reader is the one the CLIs share


def test_tts_inference_needs_a_vocoder_of_deduplicated_units(tmp_path, caplog):
    """A package of deduplicated units: synthesis with the duration model; speech seconds count frames;
    a frame-rate vocoder (or none) is refused in one line, and so is the reverse pairing."""
    from lst.bin.pack_model import main as pack_main
    from lst.bin.tts_inference import main as tts_main
    from test_pack import make_pretrained

    src = make_pretrained(tmp_path, "token_lm", n_units=6)
    info = json.loads(Path(src["unit_info"]).read_text())
    Path(src["unit_info"]).write_text(json.dumps({**info, "dedup": True}))
    packed = tmp_path / "dedup.zip"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(packed)]) == 0
    # the downstream units stage labels audio with the package: deduplicated units + a durations file
    from lst.bin.prepare_downstream import main as prep_main

    pairs, durs = dedup_pairs()
    soundfile.write(tmp_path / "x.wav", pairs[0][1], 16000)
    (tmp_path / "wav.scp").write_text(f"x {tmp_path / 'x.wav'}\n")
    prep_main(["units", "--model", str(packed), "--wav_scp", str(tmp_path / "wav.scp"),
               "--out_dir", str(tmp_path / "pkg_units")])  # (exits non-zero on failure)
    units = (tmp_path / "pkg_units/units").read_text().split()[1:]
    dur = [int(x) for x in (tmp_path / "pkg_units/durations").read_text().split()[1:]]
    n_frames = int((tmp_path / "pkg_units/utt2num_frames").read_text().split()[1])
    assert len(dur) == len(units) and sum(dur) == n_frames and len(units) < n_frames
    assert all(a != b for a, b in zip(units, units[1:]))  # deduplicated
    dvoc, _ = train_vocoder(pairs, n_units=6, unit_rate_hz=50, steps=2, d=16, n_layers=1, log_every=0, durations=durs)
    dvoc.save(str(tmp_path / "dedup_voc.pth"))
    fvoc, _ = train_vocoder(toy_pairs(), n_units=6, unit_rate_hz=50, steps=2, d=16, n_layers=1, log_every=0)
    fvoc.save(str(tmp_path / "frame_voc.pth"))
    (tmp_path / "text").write_text("a THE CAT\nb YES NO\n")
    base = ["--model", str(packed), "--text", str(tmp_path / "text"), "--max_units", "12", "--griffin_lim_iters", "2"]
    assert tts_main(base + ["--output_dir", str(tmp_path / "out"), "--vocoder", str(tmp_path / "dedup_voc.pth")]) == 0
    dec = json.loads((tmp_path / "out/decode_info.json").read_text())
    gen = {ln.split()[0]: [int(x) for x in ln.split()[1:]] for ln in (tmp_path / "out/units").read_text().splitlines()}
    wavs = dict(ln.split(" ", 1) for ln in (tmp_path / "out/wav.scp").read_text().splitlines())
    assert set(dec["utts"]) == set(gen) == set(wavs) == {"a", "b"}
    for utt, rec in dec["utts"].items():
        frames = int(dvoc.duration_model.predict(gen[utt]).sum())
        assert rec["n_units"] == len(gen[utt]) and rec["speech_seconds"] == pytest.approx(frames / 50)
        assert len(soundfile.read(wavs[utt])[0]) == pytest.approx(frames * 320, abs=320)
    assert dec["summary"]["mean_units"] == pytest.approx(np.mean([r["n_units"] for r in dec["utts"].values()]))
    caplog.clear()
    assert tts_main(base + ["--output_dir", str(tmp_path / "o2"), "--vocoder", str(tmp_path / "frame_voc.pth")]) == 1
    assert "its units are deduplicated" in caplog.text and "one unit per frame" in caplog.text
    caplog.clear()
    assert tts_main(base + ["--output_dir", str(tmp_path / "o3")]) == 1
    assert "its units are deduplicated; give --vocoder" in caplog.text
    # the reverse: a frame-rate package with the deduplicated vocoder
    Path(src["unit_info"]).write_text(json.dumps({**info, "dedup": False}))
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(tmp_path / "f.zip")]) == 0
    caplog.clear()
    assert tts_main(["--model", str(tmp_path / "f.zip")] + base[2:] + ["--output_dir", str(tmp_path / "o4"),
                                                                       "--vocoder", str(tmp_path / "dedup_voc.pth")]) == 1
    assert "trained on deduplicated units" in caplog.text
