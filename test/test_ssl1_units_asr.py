"""egs/an4/ssl1 stages 7-8 (units -> text ASR per unit set): the AN4-id subsets keep the units'
k-means lineage, the shared token list's unit_info has none, and the results table / merge
into RESULTS.json (the recipe run itself: test_hubert.py::test_ssl1_recipe_two_iterations)."""
import importlib.util
import json

import pytest

from conftest import REPO_ROOT

LOCAL = REPO_ROOT / "egs" / "an4" / "ssl1" / "local"


def load(name):
    spec = importlib.util.spec_from_file_location(f"ssl1_{name}", LOCAL / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def data():
    return load("units_asr_data")


@pytest.fixture(scope="module")
def results():
    return load("units_asr_results")


def test_subset_keeps_matching_ids_and_counts_the_rest(data):
    text = {"an4-a": "YES", "lj-1": "in being", "an4-b": "NO", "an4-c": "GO"}
    units = {"an4-b": "1 2", "an4-a": "3", "lj-1": "4", "an4-d": "5"}
    kept, counts = data.subset(units, text, "^an4-")
    assert kept == ["an4-a", "an4-b"]  # text order, only ids in both
    assert counts == {"in_text": 4, "matching": 3, "not_matching": 1, "only_in_text": 1, "only_in_units": 1}
    kept, counts = data.subset(None, text, "^an4-")
    assert kept == ["an4-a", "an4-b", "an4-c"] and "only_in_units" not in counts


def test_subset_files_keep_the_units_lineage(data, tmp_path):
    from lst.stage_io import lineage_of, write_file_marker

    src = tmp_path / "units" / "it0" / "train"
    src.mkdir(parents=True)
    (src / "units").write_text("an4-a 1 2 3\nlj-1 4 5\nan4-b 6\n")
    (src / "unit_info.json").write_text(json.dumps({"n_units": 8, "unit_rate_hz": 50}))
    write_file_marker(src, "dump_units", [src / "units", src / "unit_info.json"], lineage={"learn_kmeans": "km0"})
    text = tmp_path / "text"
    text.write_text("an4-a YES\nlj-1 in being\nan4-b NO\n")
    out = tmp_path / "out"
    assert data.main(["subset", "--units_dir", str(src), "--text", str(text), "--out_dir", str(out)]) == 0
    assert (out / "units").read_text() == "an4-a 1 2 3\nan4-b 6\n"
    assert (out / "text").read_text() == "an4-a YES\nan4-b NO\n"
    assert json.loads((out / "unit_info.json").read_text())["n_units"] == 8
    assert lineage_of(out / "units") == {"learn_kmeans": "km0"}
    # no AN4 id at all: an error, no output
    assert data.main(["subset", "--units_dir", str(src), "--text", str(text), "--utt_regex", "^zz",
                      "--out_dir", str(tmp_path / "none")]) == 1
    assert not (tmp_path / "none").exists()


def test_shared_unit_info_needs_agreeing_unit_sets(data, tmp_path):
    shared = data.shared_unit_info({"a": {"n_units": 100, "unit_rate_hz": 50, "feature_type": "mfcc"},
                                    "b": {"n_units": 100, "unit_rate_hz": 50, "feature_type": "espnet_ssl"}})
    assert shared["n_units"] == 100 and shared["unit_rate_hz"] == 50 and shared["shared_by"] == ["a", "b"]
    with pytest.raises(ValueError, match="b: n_units 500 differs from a's 100"):
        data.shared_unit_info({"a": {"n_units": 100, "unit_rate_hz": 50}, "b": {"n_units": 500, "unit_rate_hz": 50}})
    for i, info in enumerate(({"n_units": 4, "unit_rate_hz": 50}, {"n_units": 4, "unit_rate_hz": 25})):
        (tmp_path / f"u{i}.json").write_text(json.dumps(info))
    assert data.main(["shared_unit_info", "--unit_info", str(tmp_path / "u0.json"), str(tmp_path / "u1.json"),
                      "--out", str(tmp_path / "shared.json")]) == 1



def test_stage8_refuses_a_token_list_made_for_other_unit_sets(data, tmp_path, caplog):
    """Stage 7 for a 500-cluster set replaces the shared list; stage 8 of a 100-cluster set then stops."""
    for name, k in (("km100", 100), ("km500", 500)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "unit_info.json").write_text(json.dumps({"n_units": k, "unit_rate_hz": 50}))
    infos = {str(tmp_path / "km500" / "unit_info.json"): {"n_units": 500, "unit_rate_hz": 50}}
    (tmp_path / "shared.json").write_text(json.dumps(data.shared_unit_info(infos)))
    ok = ["check_shared", "--shared", str(tmp_path / "shared.json"), "--unit_info"]
    assert data.main(ok + [str(tmp_path / "km500" / "unit_info.json")]) == 0
    assert data.main(ok + [str(tmp_path / "km100" / "unit_info.json")]) == 1
    assert "km100/unit_info.json is not among the unit sets of the shared token list" in caplog.text
    assert "run stage 7 with this unit set" in caplog.text


LOG = "[vm] [train] mini-batch sizes summary: N-batch=58, mean=16.0, min=9, max=16\n"  # updates per epoch


def write_run_state(run, epochs=2):
    """What lst_train leaves: config.yaml, train.log and the reporter (per-epoch times) in checkpoint.pth."""
    import datetime

    import torch

    (run / "config.yaml").write_text("batch_size: 16\n")
    (run / "train.log").write_text(LOG)
    sec = datetime.timedelta
    stats = {ep: {"train": {"time": sec(seconds=33.14 if ep == 1 else 90.36)}, "valid": {"time": sec(seconds=1.25)}}
             for ep in range(1, epochs + 1)}
    torch.save({"reporter": {"epoch": epochs, "stats": stats}}, run / "checkpoint.pth")


def fake_run(root, name, wer, best=2):
    run = root / name
    run.mkdir()
    write_run_state(run)
    (run / "train_seconds").write_text("40\n25\n")
    (run / f"{best}epoch.pth").write_bytes(b"")
    (run / "valid.loss.best.pth").symlink_to(f"{best}epoch.pth")
    for dset, mode in (("valid", "greedy"), ("an4_test", "greedy"), ("an4_test", "beam4")):
        d = run / f"decode_{dset}_{mode}"
        d.mkdir()
        (d / "score.json").write_text(json.dumps({"wer": wer + (mode != "greedy"), "cer": wer / 2}))
        (d / "decode_info.json").write_text(json.dumps({"summary": {"n_failed": 0, "params": 1500000,
                                                                    "rtf_total": 0.01}}))
    return run


def test_results_rows_table_and_merge(results, tmp_path):
    runs = [f"mfcc,0,{fake_run(tmp_path, 'm0', 50.0)}", f"mfcc,1,{fake_run(tmp_path, 'm1', 60.0, best=1)}",
            f"hub,0,{fake_run(tmp_path, 'h0', 40.0)}"]
    target = tmp_path / "RESULTS.json"
    target.write_text(json.dumps([{"units": "mfcc", "eval_set": "synth_eval", "pnmi": 0.4, "asr_wer": None,
                                   "asr_wer_note": "not measured"},
                                  {"units": "mfcc", "eval_set": "an4_test", "pnmi": 0.5}]))
    argv = ["--runs", *runs, "--sets", "valid an4_test", "--out_json", str(tmp_path / "rows.json"),
            "--out_md", str(tmp_path / "t.md"), "--merge_into", str(target)]
    assert results.main(argv) == 0
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["units"], r["seed"], r["best_epoch"], r["updates"], r["epoch_seconds"], r["wall_seconds"])
            for r in rows] == [("mfcc", 0, 2, 116, 126.0, 65), ("mfcc", 1, 1, 116, 126.0, 65), ("hub", 0, 2, 116, 126.0, 65)]
    assert rows[0]["an4_test_beam4_wer"] == 51.0 and rows[0]["valid_greedy_cer"] == 25.0
    table = (tmp_path / "t.md").read_text()
    assert "| mfcc | 1 | 1.50 | 116 | 2 (1) | 126 | 60.00 / 30.00 |" in table
    merged = json.loads(target.read_text())
    assert [r.get("pnmi") for r in merged] == [0.4, 0.5, None]  # new row for a unit set without metrics
    for r in merged[:2]:
        assert r["asr_wer"] == 55.0 and r["asr_wer_seeds"] == [50.0, 60.0] and r["asr_cer"] == 27.5
        assert r["asr_wer_beam4"] == 56.0 and "asr_wer_note" not in r
    assert merged[2]["units"] == "hub" and merged[2]["asr_wer"] == 40.0
    # a run that was never decoded is named
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "train.log").write_text(LOG)
    assert results.main(["--runs", f"mfcc,0,{tmp_path / 'x'}", "--sets", "valid", "--out_json",
                         str(tmp_path / "r2.json"), "--out_md", str(tmp_path / "t2.md")]) == 1


def test_espnet_source_side_merges_repeats_and_checks_unit_ids(data, tmp_path):
    """--model espnet: the units as words (repeats merged unless --dedup false), ESPnet's token
    list layout, and a unit outside the codebook named by file and utterance."""
    assert data.unit_words([3, 3, 3, 1, 1, 3, 0], dedup=True) == "3 1 3 0"
    assert data.unit_words([3, 3, 1], dedup=False) == "3 3 1"
    assert data.src_token_list(3) == ["<blank>", "<unk>", "0", "1", "2", "<sos/eos>"]
    src = tmp_path / "units"
    src.mkdir()
    (src / "units").write_text("an4-a 5 5 2 2 2 7\nan4-b\nan4-c 1\n")
    (src / "unit_info.json").write_text(json.dumps({"n_units": 8, "unit_rate_hz": 50}))
    out, tokens = tmp_path / "src", tmp_path / "src_tokens.txt"
    assert data.main(["espnet_src", "--units_dir", str(src), "--out_dir", str(out), "--token_list", str(tokens)]) == 0
    assert (out / "src_text").read_text() == "an4-a 5 2 7\nan4-c 1\n"  # the empty utterance is counted, left out
    marker = json.loads((out / ".done.json").read_text())
    assert marker["counts"] == {"utterances": 2, "empty": 1, "units": 7, "src_tokens": 4}
    assert tokens.read_text().split() == ["<blank>", "<unk>"] + [str(i) for i in range(8)] + ["<sos/eos>"]
    assert data.main(["espnet_src", "--units_dir", str(src), "--out_dir", str(tmp_path / "raw"), "--dedup", "false"]) == 0
    assert (tmp_path / "raw" / "src_text").read_text().startswith("an4-a 5 5 2 2 2 7\n")
    (src / "units").write_text("an4-a 5 9\n")  # 9 is outside the 8-unit codebook
    assert data.main(["espnet_src", "--units_dir", str(src), "--out_dir", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad" / "src_text").exists()


def test_results_of_espnet_runs_count_params_and_merge_under_their_prefix(results, tmp_path):
    """An ESPnet decode (timing.json, no decode_info.json): its parameters are counted in the
    decoded checkpoint, a missing hypothesis is a failure, and --prefix/--mode name the columns."""
    import torch

    run = tmp_path / "e0"
    run.mkdir()
    write_run_state(run)
    (run / "2epoch.pth").write_bytes(b"")
    (run / "valid.loss.best.pth").symlink_to("2epoch.pth")
    torch.save({"w": torch.zeros(3, 4), "b": torch.zeros(5)}, run / "valid.acc.ave.pth")
    for dset, wer in (("valid", 30.0), ("an4_test", 20.0)):
        d = run / f"decode_{dset}_beam10_ctc0.3"
        d.mkdir()
        (d / "score.json").write_text(json.dumps({"wer": wer, "cer": wer / 2, "missing": int(dset == "valid")}))
        (d / "timing.json").write_text(json.dumps({"decode_seconds": 1.0, "n_calls": 30}))
    target = tmp_path / "RESULTS.json"
    target.write_text(json.dumps([{"units": "mfcc", "pnmi": 0.4, "asr_wer": 87.0}]))
    argv = ["--runs", f"mfcc,0,{run}", "--sets", "valid an4_test", "--out_json", str(tmp_path / "rows.json"),
            "--out_md", str(tmp_path / "t.md"), "--merge_into", str(target), "--prefix", "espnet_asr",
            "--mode", "beam10_ctc0.3"]
    assert results.main(argv) == 0
    (row,) = json.loads((tmp_path / "rows.json").read_text())
    assert row["params"] == 17 and row["valid_beam10_ctc0.3_failed"] == 1 and row["an4_test_beam10_ctc0.3_failed"] == 0
    assert "an4_test beam10_ctc0.3 WER / CER" in (tmp_path / "t.md").read_text()
    (merged,) = json.loads(target.read_text())
    assert merged["asr_wer"] == 87.0 and merged["espnet_asr_wer"] == 20.0 and merged["espnet_asr_cer"] == 10.0
    assert merged["espnet_asr_decode"] == "beam10_ctc0.3" and merged["espnet_asr_params"] == 17
    # the greedy column the LM runs have does not exist here: an error, not a silent gap
    assert results.main(argv[:-4] + ["--merge_into", str(target)]) == 1
