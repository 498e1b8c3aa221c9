"""Compute-/data-controlled training: the plan, and the stop hook ending ESPnet training at the
budget within one update; story_eval on the resulting checkpoint."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lst.budget import build_model_from_config, epochs_flop_budget, mean_flops_per_sequence, plan_training
from lst.data.sequence_format import parse_sequence
from lst.tasks.toy import WORDS, subprocess_env, write_toy_corpus
from lst.vocab import SpeechTextVocab, build_token_list, read_token_list, write_token_list

CONFIG = {
    "model": "token_lm", "model_conf": {"d_model": 16, "n_layers": 1, "n_heads": 2},
    "batch_type": "sorted", "batch_size": 8, "seed": 3, "optim": "adam", "optim_conf": {"lr": 0.003},
    "best_model_criterion": [["valid", "loss", "min"]], "keep_nbest_models": 1, "num_att_plot": 0,
    "use_tensorboard": False, "use_matplotlib": False, "log_interval": 1000,
}


def toy_setup(work: Path):
    """Token list, corpora, shape files (written directly: no collect_stats run), config."""
    write_token_list(build_token_list(["<unk>"] + WORDS, n_units=10), work / "tokens.txt")
    vocab = SpeechTextVocab(read_token_list(work / "tokens.txt"))
    for name, n, seed in (("train", 120, 1), ("valid", 16, 2)):
        write_toy_corpus(work / name, n, seed=seed)
        (work / f"{name}_shape").write_text("".join(
            f"{line.split(' ', 1)[0]} {len(parse_sequence(line.split(' ', 1)[1], vocab))}\n"
            for line in (work / name).read_text().splitlines()))
    return vocab


def train(work: Path, out: str, budget_args, max_epoch: int, iters: int) -> dict:
    conf = dict(CONFIG, max_epoch=max_epoch, num_iters_per_epoch=iters)
    (work / f"{out}.yaml").write_text(yaml.safe_dump(conf))
    cmd = [sys.executable, "-m", "lst.bin.budget", "train", "--config", str(work / f"{out}.yaml"),
           "--token_list", str(work / "tokens.txt"), "--ngpu", "0", "--num_workers", "0",
           "--train_data_path_and_name_and_type", f"{work}/train,seq,text",
           "--valid_data_path_and_name_and_type", f"{work}/valid,seq,text",
           "--train_shape_file", str(work / "train_shape"), "--valid_shape_file", str(work / "valid_shape"),
           "--output_dir", str(work / out), *budget_args]
    r = subprocess.run(cmd, env=subprocess_env(threads=1), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((work / out / "budget_ledger.json").read_text())


def optimizer_steps(exp: Path) -> int:
    ckpt = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    state = ckpt["optimizers"][0]["state"]
    return int(max(float(s["step"]) for s in state.values()))


def test_plan_counts_updates_from_model_flops(tmp_path):
    toy_setup(tmp_path)
    tl = read_token_list(tmp_path / "tokens.txt")
    est = mean_flops_per_sequence(build_model_from_config(CONFIG, tl), tmp_path / "train", tl)
    assert est["sampled_sequences"] == 120 and est["flops_per_seq"] > 0
    budget = 10.5 * est["flops_per_seq"] * 8
    plan = plan_training(CONFIG, tl, tmp_path / "train", flop_budget=budget, target_epochs=3)
    assert plan["updates"] == 10 and plan["max_epoch"] == 3
    assert plan["max_epoch"] * plan["num_iters_per_epoch"] >= plan["updates"]
    assert plan_training(CONFIG, tl, tmp_path / "train", seq_budget=44)["updates"] == 5
    # "X epochs of the baseline" (compare_models, the rocstories sweep): X x mean FLOPs x sequences,
    # so a plan under that budget makes X epochs' worth of updates
    two = epochs_flop_budget(CONFIG, tl, tmp_path / "train", 2.0)
    assert two == pytest.approx(2.0 * est["flops_per_seq"] * 120)
    assert plan_training(CONFIG, tl, tmp_path / "train", flop_budget=two)["updates"] in (29, 30)  # floor(~30.0)
    cur = dict(CONFIG, model="lst", model_conf=dict(d_model=16, n_layers=1, n_heads=2, patching="curriculum"))
    assert plan_training(cur, tl, tmp_path / "train", flop_budget=budget)["overrides"]["model_conf"][
        "curriculum_total_steps"] > 0


def test_plan_command_writes_the_planned_config(tmp_path):
    """`budget plan --out_config`: the config the trainer gets, with the plan's epochs and
    iterations; stdout is the plan's JSON alone (recipes write it to plan.json), whatever
    ESPnet's imports print."""
    toy_setup(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, max_epoch=99)))
    r = subprocess.run([sys.executable, "-m", "lst.bin.budget", "plan", "--config", str(tmp_path / "c.yaml"),
                        "--token_list", str(tmp_path / "tokens.txt"), "--corpus", str(tmp_path / "train"),
                        "--seq_budget", "80", "--target_epochs", "2", "--out_config", str(tmp_path / "out" / "train.yaml")],
                       env=subprocess_env(threads=1), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["seq_budget"] == 80
    planned = yaml.safe_load((tmp_path / "out" / "train.yaml").read_text())
    assert (planned["max_epoch"], planned["num_iters_per_epoch"]) == (2, 6)  # 10 updates (+5 %) in 2 epochs
    assert planned["model_conf"] == CONFIG["model_conf"] and planned["optim_conf"] == CONFIG["optim_conf"]


def test_flop_budget_stops_training_at_budget_and_story_eval_runs(tmp_path, capsys):
    toy_setup(tmp_path)
    tl = read_token_list(tmp_path / "tokens.txt")
    per_seq = mean_flops_per_sequence(build_model_from_config(CONFIG, tl), tmp_path / "train", tl)["flops_per_seq"]
    budget = 11.5 * per_seq * 8  # about 11.5 updates: must stop inside the 2nd epoch of 8 iterations
    led = train(tmp_path, "exp", ["--flop_budget", repr(budget)], max_epoch=4, iters=8)
    final = led["final"]
    assert final["stopped"] is True
    assert final["flops"] <= budget < final["flops"] + final["next_batch_flops"]  # within one update
    assert 5 <= final["updates"] < 16
    # the stop fell in epoch 2; a later epoch (if ESPnet started one) made no update
    stop_epoch = min(int(e) for e, t in led["epochs"].items() if t["stopped"])
    assert stop_epoch == 2 and not led["epochs"]["1"]["stopped"]
    assert all(t["updates"] == final["updates"] for e, t in led["epochs"].items() if int(e) >= stop_epoch)
    # the trainer really made exactly that many updates, and no more epochs ran updates
    assert optimizer_steps(tmp_path / "exp") == final["updates"]
    assert final["flops_parts"]["global"] == pytest.approx(final["flops"])
    # the checkpoint scores with the story_eval CLI (T->T, S->S items on the toy vocabulary)
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        json.dumps({"id": "a", "form": "cloze", "mode": "T->T", "context": "<t> ▁the ▁cat",
                    "endings": ["<t> ▁yes", "<t> s ▁b"], "label": 0}) + "\n"
        + json.dumps({"id": "b", "form": "topic", "mode": "S->S", "context": "<s> 1 2 3",
                      "endings": ["<s> 4 4", "<s> 5"], "label": 1}) + "\n")
    from lst.bin.story_eval import main as story_eval

    rc = story_eval(["--config", str(tmp_path / "exp/config.yaml"), "--model_file",
                     str(tmp_path / "exp/valid.loss.best.pth"), "--benchmark", str(bench)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_items"] == 2 and set(out["results"]) == {"cloze/T->T", "topic/S->S", "all"}
    assert out["results"]["all"]["raw"]["n"] == 2
    # bad input: error naming the file, line and item
    bench.write_text(json.dumps({"id": "z", "form": "cloze", "mode": "T->T", "context": "<t> ▁the",
                                 "endings": ["<t> ▁yes"], "label": 0}) + "\n")
    assert story_eval(["--config", str(tmp_path / "exp/config.yaml"), "--model_file",
                       str(tmp_path / "exp/valid.loss.best.pth"), "--benchmark", str(bench)]) == 1


def test_seq_budget_data_controlled(tmp_path):
    toy_setup(tmp_path)
    led = train(tmp_path, "exp_data", ["--seq_budget", "50"], max_epoch=2, iters=5)
    final = led["final"]
    assert final["sequences"] <= 50 < final["sequences"] + final["next_batch_sequences"]
    assert optimizer_steps(tmp_path / "exp_data") == final["updates"]


@pytest.mark.parametrize("model_conf", [
    {"model": "token_lm"},
    {"model": "lst", "model_conf": {"d_model": 16, "n_layers": 1, "n_heads": 2, "local_d_model": 8,
                                    "local_heads": 2, "patching": "static", "patch_size": 4}},
])
def test_step_budget_equal_updates_and_positions(tmp_path, model_conf):
    """--control steps (the paper's protocol): the same number of updates, each of pack_rows
    rows of at most pack_len global positions, whatever the model."""
    toy_setup(tmp_path)
    conf = dict(CONFIG, max_epoch=3, num_iters_per_epoch=3, pack_len=40, pack_rows=2, **model_conf)
    (tmp_path / "steps.yaml").write_text(yaml.safe_dump(conf))
    cmd = [sys.executable, "-m", "lst.bin.budget", "train", "--config", str(tmp_path / "steps.yaml"),
           "--token_list", str(tmp_path / "tokens.txt"), "--ngpu", "0", "--num_workers", "0",
           "--train_data_path_and_name_and_type", f"{tmp_path}/train,seq,text",
           "--valid_data_path_and_name_and_type", f"{tmp_path}/valid,seq,text",
           "--train_shape_file", str(tmp_path / "train_shape"), "--valid_shape_file", str(tmp_path / "valid_shape"),
           "--output_dir", str(tmp_path / "exp"), "--step_budget", "7"]
    r = subprocess.run(cmd, env=subprocess_env(threads=1), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    led = json.loads((tmp_path / "exp" / "budget_ledger.json").read_text())
    final = led["final"]
    assert final["updates"] == 7 and final["stopped"] is True  # 9 planned iterations, stopped at 7
    assert optimizer_steps(tmp_path / "exp") == 7
    assert 0.6 * 7 * 2 * 40 < final["positions"] <= 7 * 2 * 40  # fixed capacity, rows well filled
    assert final["sequences"] > 7 * 2  # several documents per packed row
    plan = plan_training(conf, read_token_list(tmp_path / "tokens.txt"), tmp_path / "train", step_budget=7)
    assert plan["updates"] == 7 and plan["estimate"]["positions_per_seq"] > 0


def test_compare_models_labels_the_protocol_of_every_row():
    import argparse

    from lst.bin.compare_models import control_label, results_markdown, with_packing

    assert control_label(flop_budget=1e12) == "flops"
    assert control_label(step_budget=100) == "steps"
    assert control_label() == "data"
    assert with_packing({"model": "lst"}, 256, 4, "c.yaml") == {"model": "lst", "pack_len": 256, "pack_rows": 4}
    with pytest.raises(SystemExit, match="pack_len=128"):
        with_packing({"pack_len": 128}, 256, 4, "c.yaml")
    ev = {"all": {"raw": {"accuracy": 0.5, "ci95": [0.4, 0.6], "n": 10},
                  "norm": {"accuracy": 0.6, "ci95": [0.5, 0.7], "n": 10}}}
    row = dict(name="lst_static", model="lst", patching="static", params=1e6, flops=1e12, flops_parts={},
               updates=50, sequences=400, tokens=9000, units=5000, positions=6400, wall_s=10.0, eval=ev)
    rows = [dict(row, control="steps"), dict(row, name="token_lm_data", control="data")]
    args = argparse.Namespace(benchmark="b.jsonl", data_reference="lst_static", control="steps", steps=50,
                              pack_rows=4, pack_len=32)
    md = results_markdown(rows, args)
    assert "`--control steps`" in md and "50 optimizer updates of 4 packed rows x 32 global positions" in md
    assert "| lst_static | static | steps |" in md and "| token_lm_data | static | data |" in md
    args.control = "flops"
    assert "FLOP budget 2e+12" in results_markdown([dict(row, control="flops")], args, 2e12)
