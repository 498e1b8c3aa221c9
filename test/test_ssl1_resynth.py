"""egs/an4/ssl1 stage 9 (resynthesis intelligibility per unit set, local/resynth.sh): the LJ
Speech split is tts1's, bad input is named, unit rates must agree, the table and the merge into
RESULTS.json (the recipe run itself: test_hubert.py::test_ssl1_recipe_two_iterations)."""
import importlib.util
import json

import pytest

from conftest import REPO_ROOT

SSL1 = REPO_ROOT / "egs" / "an4" / "ssl1" / "local"
TTS1 = REPO_ROOT / "egs" / "ljspeech" / "tts1" / "local"


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def data():
    return load(SSL1 / "resynth_data.py", "ssl1_resynth_data")


@pytest.fixture(scope="module")
def results():
    return load(SSL1 / "resynth_results.py", "ssl1_resynth_results")


def fake_lj(root, n=12, empty=("LJ001-0004",), extra_meta=("LJ009-0001",)):
    """An LJSpeech-1.1 look-alike: n clips (wav and flac mixed), one with an empty normalized
    text (both recipes skip it) and a metadata row without audio."""
    (root / "wavs").mkdir(parents=True)
    rows = []
    for i in range(1, n + 1):
        utt = f"LJ001-{i:04d}"
        (root / "wavs" / f"{utt}.{'flac' if i % 3 else 'wav'}").write_bytes(b"")
        rows.append(f"{utt}|Raw {i}.|{'' if utt in empty else f'word-{i}, twenty one'}")
    rows += [f"{u}|x|y" for u in extra_meta]
    (root / "metadata.csv").write_text("\n".join(reversed(rows)) + "\n")
    return root


@pytest.mark.parametrize("nvalid,ntest,max_utts", [(2, 3, 0), (1, 2, 8), (0, 1, 0)])
def test_split_is_tts1s(tmp_path, data, nvalid, ntest, max_utts):
    """Same ids per split as egs/ljspeech/tts1/local/data_prep.py on the same corpus."""
    tts1 = load(TTS1 / "data_prep.py", "tts1_data_prep")
    lj = fake_lj(tmp_path / "LJSpeech-1.1")
    tts1.prepare(lj, tmp_path / "tts1", nvalid, ntest, max_utts)
    meta = data.read_metadata(lj / "metadata.csv")
    sets = data.lj_split(meta, data.lj_clips(lj / "wavs"), nvalid, ntest, max_utts)
    for name in ("train", "valid", "test"):
        ids = [line.split()[0] for line in (tmp_path / "tts1" / name / "wav.scp").read_text().splitlines()]
        assert sets[name] == ids, name
    assert "LJ001-0004" not in sum(sets.values(), [])
    assert meta["LJ001-0002"] == "WORD 2 TWENTY ONE"  # tts1's text normalization


def test_split_command_takes_this_recipes_audio_and_names_a_missing_clip(tmp_path, data):
    lj = fake_lj(tmp_path / "LJSpeech-1.1", n=6, empty=())
    ids = [f"LJ001-{i:04d}" for i in range(1, 7)]
    (tmp_path / "train.scp").write_text("".join(f"lj-{u} /a/lj-{u}.wav\n" for u in ids[:4]) + "an4-x /a/x.wav\n")
    (tmp_path / "valid.scp").write_text("".join(f"lj-{u} /b/lj-{u}.wav\n" for u in ids[4:]))
    out = tmp_path / "out"
    data.main(["split", "--lj_dir", str(lj), "--wav_scp", str(tmp_path / "train.scp"), str(tmp_path / "valid.scp"),
               "--out_dir", str(out), "--nvalid", "1", "--ntest", "2"])
    assert (out / "test" / "wav.scp").read_text() == "lj-LJ001-0005 /b/lj-LJ001-0005.wav\nlj-LJ001-0006 /b/lj-LJ001-0006.wav\n"
    assert (out / "test" / "text").read_text().splitlines()[0] == "lj-LJ001-0005 WORD 5 TWENTY ONE"
    assert len((out / "train" / "text").read_text().splitlines()) == 3
    assert not (out / "valid").exists()
    (tmp_path / "valid.scp").write_text("lj-LJ001-0005 /b/5.wav\n")  # LJ001-0006 has no audio here
    with pytest.raises(SystemExit, match="lj-LJ001-0006.*valid.scp"):
        data.main(["split", "--lj_dir", str(lj), "--wav_scp", str(tmp_path / "train.scp"),
                   str(tmp_path / "valid.scp"), "--out_dir", str(out), "--nvalid", "1", "--ntest", "2"])
    with pytest.raises(SystemExit, match="leave no training clips"):
        data.main(["split", "--lj_dir", str(lj), "--wav_scp", str(tmp_path / "train.scp"),
                   "--out_dir", str(out), "--nvalid", "3", "--ntest", "3"])


def unit_dir(d, lines, rate=50, n_units=8, km="km"):
    d.mkdir(parents=True)
    (d / "units").write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    (d / "unit_info.json").write_text(json.dumps({"unit_rate_hz": rate, "n_units": n_units, "km_dir": km}))
    return d


def test_units_gathers_from_several_sets_and_names_a_missing_or_empty_id(tmp_path, data):
    a = unit_dir(tmp_path / "train", {"lj-1": "1 2", "an4-x": "3"})
    b = unit_dir(tmp_path / "valid", {"lj-2": "4 5 6"})
    (tmp_path / "ids").write_text("lj-2 TWO\nlj-1 ONE\n")
    data.main(["units", "--ids", str(tmp_path / "ids"), "--units_dirs", str(a), str(b), "--out_dir", str(tmp_path / "o")])
    assert (tmp_path / "o" / "units").read_text() == "lj-2 4 5 6\nlj-1 1 2\n"
    assert json.loads((tmp_path / "o" / "unit_info.json").read_text())["n_units"] == 8
    (tmp_path / "ids").write_text("lj-1 ONE\nlj-3 THREE\n")
    with pytest.raises(SystemExit, match=r"lj-3: no units in .*train/units / .*valid/units"):
        data.main(["units", "--ids", str(tmp_path / "ids"), "--units_dirs", str(a), str(b), "--out_dir", str(tmp_path / "o")])
    (b / "units").write_text("lj-3\n")
    with pytest.raises(SystemExit, match="lj-3: empty units"):
        data.main(["units", "--ids", str(tmp_path / "ids"), "--units_dirs", str(a), str(b), "--out_dir", str(tmp_path / "o")])
    (tmp_path / "ids").write_text("")
    with pytest.raises(SystemExit, match="empty split"):
        data.main(["units", "--ids", str(tmp_path / "ids"), "--units_dirs", str(a), "--out_dir", str(tmp_path / "o")])
    c = unit_dir(tmp_path / "other", {"lj-9": "1"}, km="other_km")
    with pytest.raises(SystemExit, match="not one unit set"):
        data.main(["units", "--ids", str(a / "units"), "--units_dirs", str(a), str(c), "--out_dir", str(tmp_path / "o")])


def test_unit_params_require_one_rate_and_frame_units(data):
    assert data.unit_params({"a": {"unit_rate_hz": 50, "n_units": 100}, "b": {"unit_rate_hz": 50.0, "n_units": 500}}) \
        == ["50 100", "50 500"]
    with pytest.raises(data.ResynthDataError, match="unit rates differ: a: 50 Hz, b: 25 Hz"):
        data.unit_params({"a": {"unit_rate_hz": 50, "n_units": 100}, "b": {"unit_rate_hz": 25, "n_units": 100}})
    with pytest.raises(data.ResynthDataError, match="b: deduplicated"):
        data.unit_params({"b": {"unit_rate_hz": 50, "n_units": 100, "dedup": True}})
    with pytest.raises(data.ResynthDataError, match="c: no n_units"):
        data.unit_params({"c": {"unit_rate_hz": 50}})


def score(wer, n=40):
    return {"wer": wer, "cer": wer / 2, "sub": 3, "del": 2, "ins": 1, "n_utts": n, "n_words": 690,
            "audio_seconds": 262.4, "rtf": 0.5, "skipped": 0}


def run_dir(root, wer, l1):
    (root / "vocoder").mkdir(parents=True)
    (root / "pocketsphinx").mkdir()
    (root / "settings.json").write_text(json.dumps({"unit_rate_hz": 50, "n_units": 100, "griffin_lim_iters": 32}))
    (root / "vocoder" / "train_info.json").write_text(json.dumps(
        {"steps": 1000, "initial_l1": 0.9, "final_l1": l1, "train_seconds": 812.345, "n_utts": 325,
         "n_frames": 105243, "params": 352592}))
    (root / "pocketsphinx" / "score.json").write_text(json.dumps(score(wer)))
    (root / "wall_seconds").write_text("vocoder 900\nresynth 60\nvocoder 850\n")
    return root


def test_results_table_and_merge(tmp_path, results):
    a = run_dir(tmp_path / "a", 60.123, 0.35)
    b = run_dir(tmp_path / "b", 70.0, 0.4)
    (tmp_path / "orig.json").write_text(json.dumps(score(26.087)))
    recipe = tmp_path / "RESULTS.json"
    recipe.write_text(json.dumps([{"units": "mfcc", "eval_set": "synth_eval", "pnmi": 0.4},
                                  {"units": "hub", "eval_set": "synth_eval", "pnmi": 0.3},
                                  {"units": "mfcc", "eval_set": "an4_test", "pnmi": 0.5},
                                  {"units": "other", "pnmi": 0.1}]))
    results.main(["--runs", f"mfcc,{a}", f"hub,{b}", "--original", str(tmp_path / "orig.json"), "--eval_set", "lj test",
                  "--out_json", str(tmp_path / "r.json"), "--out_md", str(tmp_path / "r.md"), "--merge_into", str(recipe)])
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["units"] for r in rows] == ["original", "mfcc", "hub"]
    assert rows[0]["wer"] == 26.09 and "vocoder_steps" not in rows[0]
    assert rows[1]["wer"] == 60.12 and rows[1]["vocoder_final_l1"] == 0.35 and rows[1]["vocoder_train_s"] == 812.3
    assert rows[1]["wall_s_vocoder"] == 850 and rows[1]["griffin_lim_iters"] == 32 and rows[1]["eval_set"] == "lj test"
    md = (tmp_path / "r.md").read_text()
    assert "| mfcc | 60.12 | 30.06 | 3 / 2 / 1 | 40 | 690 | 1000 | 0.35 |" in md and "| original | 26.09 |" in md
    merged = json.loads(recipe.read_text())
    assert [r.get("resynth_wer") for r in merged] == [60.12, 70.0, 60.12, None]
    assert merged[0]["resynth_original_wer"] == 26.09 and merged[1]["resynth_vocoder_steps"] == 1000
    assert merged[2]["pnmi"] == 0.5 and merged[2]["resynth_vocoder_final_l1"] == 0.35


def test_results_name_a_missing_file(tmp_path, results):
    a = run_dir(tmp_path / "a", 60.0, 0.35)
    (a / "pocketsphinx" / "score.json").unlink()
    with pytest.raises(SystemExit, match=r"a/pocketsphinx/score.json: not found"):
        results.main(["--runs", f"mfcc,{a}", "--out_json", str(tmp_path / "r.json"), "--out_md", str(tmp_path / "r.md")])
