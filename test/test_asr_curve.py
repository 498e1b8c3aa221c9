"""WER against fine-tuning updates (lst.downstream.curve, lst.bin.asr_curve) and asr_inference's
--model_file (decoding an epoch checkpoint with a package's vocabulary and units)."""
import json

import numpy as np
import pytest
import torch
import yaml

from lst.downstream.curve import (CurveError, make_curve, resolve_target, updates_per_epoch, updates_to_reach,
                                  write_curve)


def fake_run(root, name, wers, n_batch=53, accum_grad=1, num_iters=None, sets=("test",)):
    """A fine-tuning run dir as asr.sh stage 9 leaves it: config.yaml, train.log, curve decodes."""
    exp = root / name
    exp.mkdir()
    cfg = {"accum_grad": accum_grad, "num_iters_per_epoch": num_iters}
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg))
    # a resumed run logs its sampler twice; the last line counts
    (exp / "train.log").write_text(
        "[vm] INFO: [train] mini-batch sizes summary: N-batch=999, mean=16.0, min=16, max=17\n"
        f"[vm] INFO: [train] mini-batch sizes summary: N-batch={n_batch}, mean=16.0, min=16, max=17\n"
        "[vm] INFO: [valid] mini-batch sizes summary: N-batch=7, mean=14.3, min=4, max=16\n")
    for dset in sets:
        for ep, w in enumerate(wers):
            d = exp / "curve" / f"decode_{dset}_ep{ep}"
            d.mkdir(parents=True)
            (d / "score.json").write_text(json.dumps({"wer": w, "cer": w / 2, "n_utts": 130}))
    return exp


def fake_joint_decode(d, wer, ctc_weight):
    """A scored joint (beam 4) decode dir of an lst model, as asr_inference leaves it."""
    d.mkdir(parents=True)
    (d / "score.json").write_text(json.dumps({"wer": wer, "cer": wer / 2, "n_utts": 3, "n_words": 12,
                                              "sub": 1, "del": 1, "ins": 0}))
    (d / "decode_info.json").write_text(json.dumps({"summary": {
        "model": "lst", "beam": 4, "ctc_weight": ctc_weight, "global_steps": 10, "decode_seconds": 1.0,
        "rtf_decode": 0.1, "params": 2_000_000}}))


def test_updates_per_epoch_from_log_config_and_accum_grad(tmp_path):
    assert updates_per_epoch(fake_run(tmp_path, "a", [100.0])) == 53
    assert updates_per_epoch(fake_run(tmp_path, "b", [100.0], n_batch=53, accum_grad=2)) == 27
    assert updates_per_epoch(fake_run(tmp_path, "c", [100.0], num_iters=40)) == 40
    bad = fake_run(tmp_path, "d", [100.0])
    (bad / "train.log").write_text("nothing\n")
    with pytest.raises(CurveError, match="train.log: no .*N-batch"):
        updates_per_epoch(bad)


def test_updates_to_reach_and_automatic_target(tmp_path):
    pts = [{"updates": u, "wer": w} for u, w in [(0, 100.0), (10, 80.0), (20, 60.0), (30, 65.0)]]
    assert updates_to_reach(pts, 60.0) == 20
    assert updates_to_reach(pts, 79.0) == 20
    assert updates_to_reach(pts, 80.0) == 10
    assert updates_to_reach(pts, 50.0) is None
    curves = {"a": [{"wer": 90.0}, {"wer": 40.0}], "b": [{"wer": 90.0}, {"wer": 55.0}]}
    assert resolve_target(curves, "auto") == 55.0  # the worse model's final WER
    assert resolve_target(curves, "30") == 30.0


def test_make_curve_rows_reach_and_files(tmp_path):
    tok = fake_run(tmp_path, "asr_token_lm", [100.0, 90.0, 70.0, 60.0], sets=("dev", "test"))
    lst = fake_run(tmp_path, "asr_lst", [100.0, 70.0, 50.0, 45.0], n_batch=50, sets=("dev", "test"))
    curve = make_curve([str(tok), str(lst)], ["token_lm", "lst"], ["dev", "test"])
    test_rows = [r for r in curve["rows"] if r["set"] == "test" and r["system"] == "lst"]
    assert [r["updates"] for r in test_rows] == [0, 50, 100, 150]
    assert [r["wer"] for r in test_rows] == [100.0, 70.0, 50.0, 45.0]
    reach = {(r["system"], r["set"]): r for r in curve["reach"]}
    assert reach[("token_lm", "test")]["target_wer"] == 60.0
    assert reach[("token_lm", "test")]["updates_to_reach"] == 159
    assert reach[("lst", "test")]["updates_to_reach"] == 100
    assert reach[("lst", "test")]["best_wer"] == 45.0 and reach[("lst", "test")]["best_updates"] == 150
    files = write_curve(curve, tmp_path / "out")
    assert json.loads(files[0].read_text())["reach"] == curve["reach"]
    assert "| 3 | 159 |" in files[1].read_text()  # the token_lm row of epoch 3 (lst's epoch 3 is at 150)
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unfinished_or_missing_decodes_are_named(tmp_path):
    exp = fake_run(tmp_path, "asr_token_lm", [100.0, 90.0])
    (exp / "curve" / "decode_test_ep2").mkdir()
    with pytest.raises(CurveError, match="decode_test_ep2/score.json: missing"):
        make_curve([str(exp)], ["token_lm"], ["test"])
    other = fake_run(tmp_path, "asr_lst", [100.0])
    with pytest.raises(CurveError, match="no curve decodes of set 'dev' for lst"):
        make_curve([str(other)], ["lst"], ["dev"])


def test_asr_inference_decodes_another_checkpoint(tmp_path):
    from lst.bin.asr_inference import main as asr_main
    from lst.pack import pack_model
    from test_pack import make_pretrained

    src = make_pretrained(tmp_path, "token_lm")
    packed = tmp_path / "tok.zip"
    pack_model(str(packed), src["config"], src["model_file"], src["bpe_model"], src["km_dir"], src["unit_info"])
    (tmp_path / "units").write_text("utt1 " + " ".join(str(u) for u in np.arange(20) % 10) + "\n")
    state = torch.load(src["model_file"], weights_only=True)
    other = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}
    torch.save(other, tmp_path / "1epoch.pth")
    outs = {}
    for name, extra in (("pkg", []), ("same", ["--model_file", src["model_file"]]),
                        ("other", ["--model_file", str(tmp_path / "1epoch.pth")])):
        assert asr_main(["--model", str(packed), "--units", str(tmp_path / "units"), "--output_dir",
                         str(tmp_path / name), "--max_len", "6"] + extra) == 0
        outs[name] = (tmp_path / name / "text").read_text()
    assert outs["same"] == outs["pkg"]  # the package's own weights again: the same hypothesis
    assert outs["other"] != outs["pkg"]  # other weights decode differently
    info = json.loads((tmp_path / "other" / "decode_info.json").read_text())["summary"]
    assert info["model_file"] == str(tmp_path / "1epoch.pth")
    torch.save({"not": torch.zeros(1)}, tmp_path / "bad.pth")
    assert asr_main(["--model", str(packed), "--units", str(tmp_path / "units"), "--output_dir",
                     str(tmp_path / "bad"), "--model_file", str(tmp_path / "bad.pth")]) == 1


def test_results_json_rows_of_the_fine_tuned_lms(tmp_path):
    import datetime

    from lst.downstream.results import ASR_JSON_KEYS, asr_lm_rows

    exp = fake_run(tmp_path, "asr_lst", [100.0, 80.0, 70.0], n_batch=3)
    for ep in (1, 2):
        torch.save({}, exp / f"{ep}epoch.pth")
    (exp / "valid.loss.best.pth").symlink_to("1epoch.pth")
    sec = datetime.timedelta
    stats = {ep: {"train": {"time": sec(seconds=10 * ep)}, "valid": {"time": sec(seconds=1)}} for ep in (1, 2)}
    torch.save({"reporter": {"epoch": 2, "stats": stats}}, exp / "checkpoint.pth")
    (exp / "train_seconds").write_text("5\n")  # the last (resumed) invocation only: not what is reported
    for mode, beam in (("greedy", 1), ("beam", 4)):
        d = exp / f"decode_test_{mode}"
        d.mkdir()
        (d / "score.json").write_text(json.dumps({"wer": 41.234, "cer": 20.0, "n_utts": 3}))
        summary = {"beam": beam, "params": 4_120_000, "rtf_total": 0.05, "rtf_decode": 0.04, "global_steps": 99}
        (d / "decode_info.json").write_text(json.dumps({"summary": summary}))
    rows = asr_lm_rows(tmp_path, ["lst", "token_lm"], ["dev", "test"])
    assert [r["decode"] for r in rows] == ["greedy", "beam4"]
    r = rows[0]
    assert set(r) == set(ASR_JSON_KEYS)
    assert (r["system"], r["set"], r["wer"], r["params_m"], r["rtf"]) == ("lst", "test", 41.23, 4.12, 0.05)
    assert (r["epochs"], r["updates"], r["best_epoch"], r["train_s"]) == (2, 6, 1, 32.0)


def test_pick_checkpoint_lowest_validation_wer_later_epoch_on_tie(tmp_path):
    from lst.bin import asr_curve
    from lst.downstream.curve import pick_checkpoint

    # epoch 0 (the backbone) has the lowest WER here but is not a fine-tuned checkpoint; epochs 2 and 4 tie
    exp = fake_run(tmp_path, "asr_lst", [10.0, 70.0, 50.0, 60.0, 50.0, 55.0], sets=("dev", "test"))
    pick = pick_checkpoint(exp, "dev")
    assert (pick["epoch"], pick["wer"], pick["updates"]) == (4, 50.0, 4 * 53)
    assert pick["checkpoint"] == str(exp / "4epoch.pth") and "later epoch on a tie" in pick["rule"]
    with pytest.raises(CurveError, match="no decodes of set 'valid' past epoch 0"):
        pick_checkpoint(exp, "valid")
    assert asr_curve.main(["--exps", str(exp), "--systems", "lst", "--sets", "dev test",
                           "--out_dir", str(tmp_path / "curve"), "--pick_set", "dev"]) == 0
    saved = json.loads((exp / "picked_checkpoint.json").read_text())
    assert saved["epoch"] == 4 and saved["system"] == "lst" and saved["set"] == "dev"


def test_asr_lm_table_lists_the_picked_epoch_decodes(tmp_path):
    import argparse

    from lst.downstream.results import asr_lm

    exp = tmp_path / "asr_lst"
    for name, wer in (("decode_test_joint", 60.0), ("decode_test_joint_ep28", 50.0),
                      ("decode_test_joint_ep28_ctc0.5", 1.0)):  # the last: not a stage-10 dir
        fake_joint_decode(exp / name, wer, ctc_weight=0.3)
    out = tmp_path / "RESULTS.md"
    asr_lm(argparse.Namespace(exp=str(exp), sets="test", out=str(out)))
    lines = [l for l in out.read_text().splitlines() if l.startswith("| test")]
    assert lines == ["| test | joint | 4 | 3 | 12 | 60.00 | 30.00 | 1 | 1 | 0 | 10 | 1.00 | 0.10 |",
                     "| test | joint, epoch 28, CTC 0.3 | 4 | 3 | 12 | 50.00 | 25.00 | 1 | 1 | 0 | 10 | 1.00 | 0.10 |"]
    from lst.downstream.results import asr_lm_rows

    rows = asr_lm_rows(tmp_path, ["lst"], ["test"])
    assert [(r["decode"], r["wer"], r["best_epoch"]) for r in rows] == [("beam4_ctc0.3", 60.0, None),
                                                                         ("beam4_ctc0.3_ep28", 50.0, 28)]


def test_pick_ctc_weight_lowest_wer_then_cer_then_first_listed(tmp_path):
    """asr.sh stage 10's --pick_ctc_weights: the weight of the lowest validation WER; a tie goes to
    the lower CER, then to the weight listed first; a missing score.json and bad --decodes are
    one-line errors naming what is wrong; the command line prints the weight and writes the JSON."""
    import subprocess
    import sys

    from lst.bin.pick_ctc_weight import parse_decodes
    from lst.downstream.curve import pick_ctc_weight

    def dec(name, wer, cer):
        d = tmp_path / name
        d.mkdir()
        (d / "score.json").write_text(json.dumps({"wer": wer, "cer": cer, "n_utts": 100}))
        return d

    a, b, c, e = dec("w3", 45.0, 30.0), dec("w5", 41.0, 28.0), dec("w7", 41.0, 27.5), dec("w9", 41.0, 27.5)
    pick = pick_ctc_weight([(0.3, a), (0.5, b), (0.7, c), (0.9, e)], "dev")
    assert (pick["ctc_weight"], pick["wer"], pick["cer"], pick["set"]) == (0.7, 41.0, 27.5, "dev")
    assert [t["ctc_weight"] for t in pick["tried"]] == [0.3, 0.5, 0.7, 0.9]
    assert pick_ctc_weight([(0.9, e), (0.7, c)])["ctc_weight"] == 0.9  # full tie: the first listed
    assert pick_ctc_weight([(0.3, a)])["ctc_weight"] == 0.3
    with pytest.raises(CurveError, match=r"nope[/\\]score.json: missing"):
        pick_ctc_weight([(0.3, a), (0.5, tmp_path / "nope")])
    assert parse_decodes(f"0.3:{a} 1:{b}") == [(0.3, a), (1.0, b)]
    # with a length bonus (--pick_length_bonuses): the pair is picked
    assert parse_decodes(f"0.3,0:{a} 0.3,1.5:{b}") == [(0.3, 0.0, a), (0.3, 1.5, b)]
    pair = pick_ctc_weight([(0.3, 0.0, a), (0.3, 1.5, b), (0.5, -1.0, c)], "dev")
    assert (pair["ctc_weight"], pair["length_bonus"]) == (0.5, -1.0)
    assert [t["length_bonus"] for t in pair["tried"]] == [0.0, 1.5, -1.0]
    assert "length_bonus" not in pick
    for bad in (f"0.3{a}", "x:dir", "1.5:dir", "0.3:", f"0.3:{a} 0.3:{b}", "0.3,x:dir", f"0.3,1:{a} 0.5:{b}",
                f"0.3,1:{a} 0.3,1:{b}"):
        with pytest.raises(ValueError, match="--decodes"):
            parse_decodes(bad)
    out = tmp_path / "picked.json"
    proc = subprocess.run([sys.executable, "-m", "lst.bin.pick_ctc_weight", "--decodes", f"0.3:{a} 0.5:{b}",
                           "--set", "dev", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0.5"
    assert json.loads(out.read_text())["wer"] == 41.0
    proc = subprocess.run([sys.executable, "-m", "lst.bin.pick_ctc_weight", "--decodes", f"0.3,0:{a} 0.3,2:{b}",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "0.3 2", proc.stderr
    proc = subprocess.run([sys.executable, "-m", "lst.bin.pick_ctc_weight", "--decodes", f"0.3:{tmp_path}/gone",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode != 0 and "gone" in proc.stderr and "Traceback" not in proc.stderr
