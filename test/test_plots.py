"""Plots of a comparison (lst.eval.plots, lst.bin.plot_curves, lst.bin.plot_patches) and the
sweep's run/budget logic (egs/rocstories/lst1/local/sweep.py)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from lst.eval.plots import patchings_of, plot_patch_boundaries, size_groups, span_flags
from lst.eval.results import nll_rows, run_fields, write_results_json

ROOT = Path(__file__).resolve().parents[1]


def fake_rows():
    rows = []
    for params_tok, params_lst in ((1.0e6, 1.3e6), (4.0e6, 4.6e6)):
        for e, f in enumerate((1e12, 2e12, 4e12)):
            rows += nll_rows(run_fields("token_lm", "none", "flops", params_tok, f), {"speech": 4 - 0.3 * e, "text": 6 - e})
            rows += nll_rows(run_fields("lst", "static", "flops", params_lst, f), {"speech": 3.9 - 0.4 * e, "text": 6.1 - e})
            rows += nll_rows(run_fields("lst", "static", "steps", params_lst, 1.2 * f), {"speech": 3.8 - 0.4 * e,
                                                                                       "text": 6 - e})
        for model, patching, p in (("token_lm", "none", params_tok), ("lst", "static", params_lst)):
            for norm in (False, True):
                for bench, mode, n in (("sc", "S->S", 40), ("hellaswag", "T->T", 40), ("blimp", "T->T", 60)):
                    rows.append(dict(run_fields(model, patching, "flops", p, 4e12), benchmark=bench, mode=mode, n=n,
                                     acc=0.55, ci_low=0.4, ci_high=0.69, normalised=norm))
            from lst.eval.stats import wilson_interval  # an interval end that rounds below acc = 1
            lo, hi = wilson_interval(40, 40)
            rows.append(dict(run_fields(model, patching, "flops", p, 4e12), benchmark="tsc", mode="T->T", n=40,
                             acc=1.0, ci_low=lo, ci_high=hi - 1e-12, normalised=False))
    return rows


def test_size_groups_pair_classes_by_rank():
    groups = size_groups(fake_rows())
    assert len(groups) == 2
    assert {r["params_m"] for r in groups[0]} == {1.0, 1.3} and {r["params_m"] for r in groups[1]} == {4.0, 4.6}


def test_plot_curves_cli_writes_pngs(tmp_path):
    from lst.bin import plot_curves

    write_results_json(fake_rows(), tmp_path / "RESULTS.json")
    assert plot_curves.main(["--results", str(tmp_path / "RESULTS.json"), "--out_dir", str(tmp_path / "p")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "p").glob("*.png"))
    assert pngs == sorted(f"curves_{k}_size{i}.png" for k in ("nll", "acc", "acc_norm") for i in (0, 1))
    for p in (tmp_path / "p").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_patchings_of_a_span_and_the_picture(tmp_path):
    units, flags = span_flags("<s> 0 0 0 | 5 5 5 5 5 5 | 1 1 | 0 0 0 0 0")
    assert units[:4] == [0, 0, 0, 5] and flags == [1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    p = patchings_of(units, flags, ["static", "aligned", "curriculum", "silence"], patch_size=4, max_patch_len=16,
                     silence_units=[0])
    assert p["static"] == [4, 4, 4, 4]
    assert p["aligned"] == [3, 6, 2, 5]  # one patch per word / silence segment
    assert p["curriculum (eval: static)"] == [4, 4, 4, 4]  # curriculum models are evaluated with static patches
    assert p["silence"] == [3, 4, 4, 5]  # a silence run whole, the 8 speech units between every 4
    sr, rate = 16000, 25.0
    t = np.arange(int(len(units) / rate * sr)) / sr
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.12)).astype(np.float32)
    words = [["hello", 0.12, 0.36], ["a", 0.36, 0.44]]
    plot_patch_boundaries(audio, sr, words, rate, p, tmp_path / "patches.png")
    assert (tmp_path / "patches.png").stat().st_size > 10_000


def load_sweep():
    path = ROOT / "egs/rocstories/lst1/local/sweep.py"
    spec = importlib.util.spec_from_file_location("rocstories_sweep", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sweep_runs_and_budgets():
    sw = load_sweep()
    sizes = sw.parse_sizes("s:64x2,m:128x4")
    assert [(s.name, s.d_model, s.n_layers) for s in sizes] == [("s", 64, 2), ("m", 128, 4)]
    first, second = sw.plan_runs(sizes, ["token_lm", "lst_static", "lst_curriculum"], ["flops", "steps"], True)
    assert [r.id for r in first] == ["s/token_lm_flops", "s/lst_static_flops", "s/lst_curriculum_flops",
                                     "m/token_lm_flops", "m/lst_static_flops", "m/lst_curriculum_flops"]
    assert [r.id for r in second] == ["s/lst_static_steps", "s/lst_curriculum_steps", "s/token_lm_data",
                                      "m/lst_static_steps", "m/lst_curriculum_steps", "m/token_lm_data"]
    assert {r.depends for r in second if r.control == "steps"} == {"s/token_lm_flops", "m/token_lm_flops"}
    assert next(r for r in second if r.id == "m/token_lm_data").depends == "m/lst_curriculum_flops"
    # steps only: LST curriculum still trains under flops when it is the data reference
    first, _ = sw.plan_runs(sizes[:1], ["token_lm", "lst_static", "lst_curriculum"], ["steps"], True)
    assert [r.id for r in first] == ["s/token_lm_flops", "s/lst_curriculum_flops"]
    ledgers = {"s/token_lm_flops": {"sequences": 320, "updates": 20, "flops": 1e12},
               "s/lst_curriculum_flops": {"sequences": 480, "updates": 30}}
    run = {r.id: r for r in second}
    assert sw.run_budget(first[0], ledgers, {"s": 1e12}) == {"flop_budget": 1e12}
    # steps: the baseline's update count; data: the reference run's sequences
    assert sw.run_budget(run["s/lst_static_steps"], ledgers, {"s": 1e12}) == {"step_budget": 20}
    assert sw.run_budget(run["s/token_lm_data"], ledgers, {"s": 1e12}) == {"seq_budget": 480}
    with pytest.raises(RuntimeError, match="needs the finished run"):
        sw.run_budget(run["m/lst_static_steps"], ledgers, {"m": 1e12})
    with pytest.raises(SystemExit):
        sw.plan_runs(sizes, ["lst_static"], ["flops"], False)  # no baseline
    with pytest.raises(SystemExit):
        sw.parse_sizes("s:64")
    conf = sw.sized_config({"model": "lst", "model_conf": {"d_model": 256, "n_layers": 4, "local_d_model": 128}},
                           sizes[1])
    assert conf["model_conf"]["d_model"] == 128 and conf["model_conf"]["local_d_model"] == 64
    assert conf["model_conf"]["n_heads"] == 2


def test_flops_to_reach_interpolates_in_log_flops(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "egs/rocstories/lst1/local"))
    import sweep_report

    curve = {1: (1e12, 4.0, 5.0), 2: (4e12, 3.0, 5.0), 3: (8e12, 2.5, 5.0)}
    f, first = sweep_report.flops_to_reach(curve, 3.5)   # half-way between 1e12 and 4e12 in log FLOPs
    assert f == pytest.approx(2e12) and not first
    assert sweep_report.flops_to_reach(curve, 4.5) == (1e12, True)   # already there at the first checkpoint
    assert sweep_report.flops_to_reach(curve, 2.0) == (None, False)


def test_sweep_report_from_run_dirs(tmp_path, monkeypatch):
    """RESULTS.json / RESULTS.md / plots of a sweep from hand-made run directories."""
    import argparse
    import sys

    from lst.eval.results import read_results_json

    local = ROOT / "egs/rocstories/lst1/local"
    monkeypatch.syspath_prepend(str(local))
    sys.modules.pop("sweep", None)
    sys.modules.pop("sweep_report", None)
    import sweep
    import sweep_report

    sizes = sweep.parse_sizes("s:64x2")
    phases = sweep.plan_runs(sizes, ["token_lm", "lst_static"], ["flops", "steps"], False)
    out = tmp_path / "exp"
    speech = {"s/token_lm_flops": [4.0, 3.5], "s/lst_static_flops": [3.4, 3.2], "s/lst_static_steps": [3.5, 3.1]}
    for phase in phases:
        for run in phase:
            d = out / run.id
            (d / "eval").mkdir(parents=True)
            epochs = {str(e + 1): {"flops": 1e12 * (e + 1), "updates": 10 * (e + 1), "sequences": 160 * (e + 1),
                                   "tokens": 9000 * (e + 1), "units": 5000 * (e + 1)} for e in range(2)}
            (d / "budget_ledger.json").write_text(json.dumps({"epochs": epochs, "final": epochs["2"]}))
            (d / "plan.json").write_text(json.dumps({"params": 1_200_000 if "lst" in run.cls else 1_000_000}))
            (d / "train_wall_seconds").write_text("60\n")
            for e in (1, 2):
                sp, tx = speech[run.id][e - 1], 5.0 - 0.1 * e
                per = {f"q{i}": [sp * (10 + i) + (0.1 if i % 2 else -0.1), 10 + i, tx * 3, 3] for i in range(8)}
                (d / f"eval/heldout_ep{e}.json").write_text(json.dumps(
                    {"heldout": {"speech": sp, "text": tx, "per_sequence": per}}))
            acc = {"accuracy": 0.6, "ci95": [0.5, 0.7], "correct": 60, "n": 100}
            (d / "eval/bench.json").write_text(json.dumps(
                {"results": {"sc/T->T": {"n": 100, "chance": 0.5, "raw": acc, "norm": acc}}}))
            (d / "eval/last_epoch").write_text("2\n")
    args = argparse.Namespace(results_json=str(tmp_path / "RESULTS.json"), results_md=str(tmp_path / "RESULTS.md"),
                              threads=1, parallel=2, ngpu=0, sizes="s:64x2", classes="token_lm lst_static",
                              controls="flops steps", data_controlled=False, data_reference="lst_curriculum",
                              flop_budget=None, budget_epochs=2, heldout="h/seqs", benchmarks=["sc.jsonl"], note="")
    sweep_report.write_report(out, sizes, phases, args)
    rows = read_results_json(tmp_path / "RESULTS.json")
    nll = [r for r in rows if r["benchmark"] == "heldout"]
    # baseline rows twice (flops and steps), LST flops + steps: 4 runs x 2 checkpoints x 2 modes
    assert len(nll) == 16 and {r["control"] for r in nll if r["model"] == "token_lm"} == {"flops", "steps"}
    assert len([r for r in rows if r["benchmark"] == "sc"]) == 4 * 2
    md = (tmp_path / "RESULTS.md").read_text()
    # LST static reaches the baseline's final speech NLL 3.5 at its first checkpoint: 1e12 = 0.50 x 2e12
    assert "lst_static: final speech NLL 3.2000 vs baseline 3.5000" in md and "<= 0.50 x the baseline's" in md
    # paired bootstrap at the final checkpoints: LST static 3.2 vs baseline 3.5 on every sequence
    line = next(x for x in md.splitlines() if x.startswith("| s/lst_static_flops | s/token_lm_flops |"))
    assert "| -0.30" in line and "| 1.000 |" in line and "+0.0000 [+0.0000, +0.0000]" in line
    assert (tmp_path / "plots/nll_size0.png").exists() and (tmp_path / "plots/acc_size0.png").exists()


def test_plot_patches_cli_from_kaldi_files(tmp_path):
    import soundfile as sf

    from lst.bin import plot_patches

    sr, rate = 16000, 25.0
    sf.write(tmp_path / "u1.wav", (0.2 * np.sin(np.arange(sr) * 0.05)).astype(np.float32), sr)
    (tmp_path / "wav.scp").write_text(f"u1 {tmp_path / 'u1.wav'}\n")
    (tmp_path / "units").write_text("u1 " + " ".join(["3"] * 5 + ["7"] * 10 + ["3"] * 10) + "\nu2 1 2 3\n")
    (tmp_path / "unit_info.json").write_text(json.dumps({"unit_rate_hz": rate}))
    (tmp_path / "word_ctm").write_text("u1 hello 0.2 0.6\nu1 there 0.6 1.0\n")
    base = ["--wav_scp", str(tmp_path / "wav.scp"), "--units", str(tmp_path / "units"), "--unit_info",
            str(tmp_path / "unit_info.json"), "--word_ctm", str(tmp_path / "word_ctm"), "--patchings", "static,aligned"]
    assert plot_patches.main(base + ["--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="u2 has no word timings in .*word_ctm"):
        plot_patches.main(base + ["--utt", "u2", "--out", str(tmp_path / "q.png")])


def test_kind_nll_and_above_chance(monkeypatch):
    """Held-out NLL per sequence kind from per-sequence sums; accuracies above chance by the CI's low end."""
    monkeypatch.syspath_prepend(str(ROOT / "egs/rocstories/lst1/local"))
    import sweep_report

    per = {"text_a": [0.0, 0, 12.0, 4], "text_b": [0.0, 0, 8.0, 6], "s2t_a": [30.0, 10, 9.0, 3]}
    kinds = sweep_report.kind_nll({"per_sequence": per})
    assert kinds["text"] == (None, pytest.approx(2.0)) and kinds["s2t"] == (pytest.approx(3.0), pytest.approx(3.0))
    base = {"id": "m/token_lm_flops", "status": "done", "size": "m", "class": "token_lm", "bench": None,
            "heldout_final": {"per_sequence": {"text_a": [0.0, 0, 10.0, 4], "s2t_a": [33.0, 10, 6.0, 3]}}}
    acc = lambda a, lo: {"n": 1000, "accuracy": a, "ci95": [lo, a + 0.03]}  # noqa: E731
    lst = {"id": "m/lst_static_flops", "status": "done", "size": "m", "class": "lst_static",
           "heldout_final": {"per_sequence": per},
           "bench": {"results": {"tsc/T->T": {"chance": 0.5, "raw": acc(0.54, 0.511), "norm": acc(0.52, 0.49)},
                                 "hellaswag/T->T": {"chance": 0.25, "raw": acc(0.26, 0.23), "norm": acc(0.27, 0.24)}}}}
    lines = sweep_report.kind_lines([base, lst])
    assert "| m/lst_static_flops | s2t | 3.000 / 3.300 (-0.300) | 3.000 / 2.000 (+1.000) |" in lines
    assert "| m/lst_static_flops | text | - | 2.000 / 2.500 (-0.500) |" in lines
    above = sweep_report.above_chance_lines([base, lst])
    assert above == ["- m/lst_static_flops: tsc/T->T raw 54.0 (n=1000, low 51.1 > 50)"]
