"""Compute-controlled (and data-controlled) comparison of the token baseline and LST variants:
train each under the same budget, score each on the story benchmark, write RESULTS.md + plots.

    python -m lst.bin.compare_models --token_list data/token_list/tokens.txt \
        --train corpus/train/seqs --valid corpus/valid/seqs --stats_dir exp/compare/stats \
        --benchmark data/story_bench.jsonl --out_dir exp/compare \
        --configs conf/compare_token_lm.yaml conf/compare_lst_static.yaml conf/compare_lst_aligned.yaml \
                  conf/compare_lst_curriculum.yaml conf/compare_lst_silence.yaml \
        --flop_budget_epochs 1.0 --target_epochs 2 \
        --data_controlled token_lm --data_reference lst_curriculum \
        --results exp/RESULTS.md --plot exp/compare_accuracy_vs_flops.png

Two compute protocols (``--control``; every row of RESULTS.md / rows.json names its own):

* ``flops`` (default): equal total training FLOPs, local models counted. Budget ``--flop_budget
  F``, or ``--flop_budget_epochs X``: F = X epochs of the *first* config (the baseline) over the
  training corpus, i.e. X x (its mean FLOPs per sequence) x (number of training sequences).
  Every run ends within one update of F.
* ``steps`` (the paper's, spec 5): equal optimizer updates (``--steps N``) and equal global
  positions per update: every config is trained on packed rows, ``--pack_rows`` rows of
  ``--pack_len`` global positions (baseline tokens = LST patches); local-model FLOPs are not
  counted, so LST sees more data.

Each run is planned by ``lst.budget.plan_training`` and trained by ``python -m lst.bin.budget train``
(ESPnet's trainer with the budget stop hook).

Data-controlled variant: each run named in ``--data_controlled`` is trained again on as many
training sequences as the ``--data_reference`` run saw under the FLOP budget (the paper's
data-controlled baseline: same data as LST, hence more compute).

Run names are the config file names without ``compare_`` and ``.yaml`` (data-controlled runs:
``<name>_data_<reference>``). Every run lives in
``<out_dir>/<name>`` (``train.yaml``, ``plan.json``, ``budget_ledger.json``, checkpoints,
``story_eval.json``); a finished stage is not redone, so an interrupted comparison resumes.
A silence-patching config without ``silence_units`` gets them from ``--silence_units_file``.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import yaml

from lst.eval.story import FORMS, MODES


def run_name(config_path: str) -> str:
    name = Path(config_path).name
    name = name[: -len(".yaml")] if name.endswith(".yaml") else name
    return name[len("compare_"):] if name.startswith("compare_") else name


def subprocess_env(threads: int) -> Dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def call(cmd: List[str], log_file: Path, env) -> float:
    logging.info("running: %s  (log: %s)", " ".join(cmd), log_file)
    t0 = time.time()
    with open(log_file, "a") as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        tail = Path(log_file).read_text(errors="replace")[-3000:]
        raise SystemExit(f"compare_models: failed (rc {r.returncode}): {' '.join(cmd[:4])} ...; see {log_file}\n{tail}")
    return time.time() - t0


def train_and_eval(name: str, config: Dict, args, flop_budget=None, seq_budget=None, step_budget=None) -> Dict:
    from lst.budget import LEDGER, apply_overrides, plan_training
    from lst.vocab import read_token_list

    d = Path(args.out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    env = subprocess_env(args.threads)
    plan_file = d / "plan.json"
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
    else:
        plan = plan_training(config, read_token_list(args.token_list), args.train, flop_budget, seq_budget,
                             args.target_epochs, max_seqs=args.plan_max_seqs, step_budget=step_budget)
        plan_file.write_text(json.dumps(plan, indent=1))
    logging.info("%s: %d updates planned (~%.3g FLOPs/update, %s epochs x %s iters)", name, plan["updates"],
                 plan["flops_per_update"], plan["max_epoch"], plan["num_iters_per_epoch"])
    train_conf = apply_overrides(config, plan["overrides"])
    (d / "train.yaml").write_text(yaml.safe_dump(train_conf, sort_keys=False))
    ledger_file = d / LEDGER
    wall_file = d / "train_wall_seconds"
    model_file = d / args.eval_model
    if not (model_file.exists() and ledger_file.exists() and wall_file.exists()):
        if flop_budget is not None:
            budget_args = ["--flop_budget", repr(float(flop_budget))]
        elif step_budget is not None:
            budget_args = ["--step_budget", str(int(step_budget))]
        else:
            budget_args = ["--seq_budget", str(int(seq_budget))]
        cmd = [sys.executable, "-m", "lst.bin.budget", "train", "--config", str(d / "train.yaml"),
               "--token_list", args.token_list, "--ngpu", str(args.ngpu), "--num_workers", "0", "--resume", "true",
               "--train_data_path_and_name_and_type", f"{args.train},seq,text",
               "--valid_data_path_and_name_and_type", f"{args.valid},seq,text",
               "--train_shape_file", f"{args.stats_dir}/train/seq_shape",
               "--valid_shape_file", f"{args.stats_dir}/valid/seq_shape",
               "--output_dir", str(d), *budget_args]
        wall = call(cmd, d / "train.log", env)
        wall_file.write_text(f"{wall:.1f}\n")
    ledger = json.loads(ledger_file.read_text())["final"]
    eval_file = d / "story_eval.json"
    if not eval_file.exists():
        call([sys.executable, "-m", "lst.bin.story_eval", "--config", str(d / "config.yaml"),
              "--model_file", str(model_file), "--benchmark", args.benchmark, "--batch_size", str(args.eval_batch_size),
              "--out", str(eval_file), "--scores_out", str(d / "story_scores.jsonl"),
              "--device", "cuda" if args.ngpu > 0 else "cpu"], d / "eval.log", env)
    ev = json.loads(eval_file.read_text())
    return {"name": name, "model": config.get("model", "token_lm"),
            "patching": (config.get("model_conf") or {}).get("patching", "-") if config.get("model") == "lst" else "-",
            "control": control_label(flop_budget, step_budget),
            "pack": [config.get("pack_rows"), config.get("pack_len")] if config.get("pack_len") else None,
            "params": plan["params"], "flops": ledger["flops"], "flops_parts": ledger.get("flops_parts", {}),
            "positions": ledger.get("positions", 0),
            "updates": ledger["updates"], "sequences": ledger["sequences"], "tokens": ledger["tokens"],
            "units": ledger["units"], "budget_reached": ledger.get("stopped", False),
            "wall_s": float(wall_file.read_text()), "eval": ev["results"]}


def control_label(flop_budget=None, step_budget=None) -> str:
    """The protocol of a run: "flops" (equal FLOPs), "steps" (equal updates and positions per
    update) or "data" (equal training sequences)."""
    if flop_budget is not None:
        return "flops"
    return "steps" if step_budget is not None else "data"


def with_packing(config: Dict, pack_len: int, pack_rows: int, name: str) -> Dict:
    """--control steps: every run packs the same rows x positions per update."""
    for key, want in (("pack_len", pack_len), ("pack_rows", pack_rows)):
        if config.get(key) not in (None, want):
            raise SystemExit(f"compare_models: {name} sets {key}={config[key]} but --control steps uses {want} "
                             "for every run (equal global positions per update)")
    return dict(config, pack_len=pack_len, pack_rows=pack_rows)


def fmt_acc(entry) -> str:
    if not entry or entry.get("accuracy") is None:
        return "-"
    lo, hi = entry["ci95"]
    return f"{100 * entry['accuracy']:.1f} [{100 * lo:.0f}, {100 * hi:.0f}]"


def results_markdown(rows: List[Dict], args, flop_budget: float = None) -> str:
    groups = [f"{f}/{m}" for f in FORMS for m in MODES if any(f"{f}/{m}" in r["eval"] for r in rows)]
    n_items = {g: next((r["eval"][g]["n"] for r in rows if g in r["eval"]), 0) for g in groups}
    control = getattr(args, "control", "flops")
    if control == "steps":
        protocol = [f"- compute protocol `steps` (the paper's): every `steps` row made {args.steps} optimizer updates "
                    f"of {args.pack_rows} packed rows x {args.pack_len} global positions (baseline: tokens, LST: "
                    "patches and text tokens); local-model FLOPs are not counted, so the FLOPs column differs"]
    else:
        protocol = [f"- compute protocol `flops`: FLOP budget {flop_budget:.4g} training FLOPs (model accounting: "
                    "global + local encoder + local decoder, training = 3 x forward); every `flops` row stops "
                    "within one update of it"]
    lines = [
        f"# Story completion: compute-controlled comparison (`--control {control}`)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}; benchmark `{args.benchmark}` "
        f"({', '.join(f'{g}: {n_items[g]}' for g in groups)} items)",
        *protocol,
        "- data-controlled runs (control `data`): as many training sequences as the reference run "
        f"`{args.data_reference}` saw under the `{control}` protocol",
        "- accuracy in %, [95% Wilson CI]; an exact tie counts 0.5. Chance = 50.",
        "- tokens seen = sequence positions trained on (text tokens + speech units + markers); "
        "wall time = training only, on this machine",
        "",
    ]
    head = "| model | patching | control | params | FLOPs | updates | tokens seen | wall time (s) |"
    for rule, title in (("raw", "summed log-likelihood of the ending (raw)"),
                        ("norm", "length-normalised: mean log-likelihood per ending unit/token")):
        lines += [f"## Accuracy, {title}", "", head + "".join(f" {g} |" for g in groups) + " all |",
                  "|---|---|---|---:|---:|---:|---:|---:|" + "---:|" * (len(groups) + 1)]
        for r in rows:
            lines.append(
                f"| {r['name']} | {r['patching']} | {r['control']} | {r['params'] / 1e6:.2f} M | {r['flops']:.3g} "
                f"| {r['updates']} | {r['tokens']} | {r['wall_s']:.0f} |"
                + "".join(f" {fmt_acc(r['eval'].get(g, {}).get(rule))} |" for g in groups)
                + f" {fmt_acc(r['eval']['all'][rule])} |")
        lines.append("")
    lines += ["## FLOPs by part", "", "| model | control | global | local encoder | local decoder | sequences | speech units "
              "| global positions |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r["flops_parts"]
        lines.append(f"| {r['name']} | {r['control']} | {p.get('global', 0):.3g} | {p.get('local_enc', 0):.3g} | "
                     f"{p.get('local_dec', 0):.3g} | {r['sequences']} | {r['units']} | {r.get('positions', 0)} |")
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict], path: str, rule: str = "raw") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    groups = [(f, m) for f in FORMS for m in MODES if any(f"{f}/{m}" in r["eval"] for r in rows)]
    forms = [f for f in FORMS if any(g[0] == f for g in groups)]
    modes = [m for m in MODES if any(g[1] == m for g in groups)]
    fig, axes = plt.subplots(len(forms), len(modes), figsize=(3.2 * len(modes), 3.0 * len(forms)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, f in enumerate(forms):
        for j, m in enumerate(modes):
            ax = axes[i][j]
            for k, r in enumerate(rows):
                e = r["eval"].get(f"{f}/{m}", {}).get(rule)
                if not e or e.get("accuracy") is None:
                    continue
                acc, (lo, hi) = 100 * e["accuracy"], e["ci95"]
                ax.errorbar([r["flops"]], [acc], yerr=[[acc - 100 * lo], [100 * hi - acc]], fmt="s" if r["control"] ==
                            "data" else "o", color=colors[k % len(colors)], capsize=3, label=f"{r['name']}")
            ax.axhline(50, color="grey", lw=0.8, ls="--")
            ax.set_xscale("log")
            fl = [r["flops"] for r in rows if r["flops"] > 0]
            if fl:
                ax.set_xlim(min(fl) / 2, max(fl) * 2)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(0, 100)
            ax.set_title(f"{f} {m}", fontsize=9)
            ax.set_xlabel("training FLOPs", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"accuracy % ({rule})", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--token_list", required=True)
    p.add_argument("--train", required=True, help="training corpus (corpus/train/seqs)")
    p.add_argument("--valid", required=True)
    p.add_argument("--stats_dir", required=True, help="collect_stats output (train/seq_shape, valid/seq_shape)")
    p.add_argument("--benchmark", required=True)
    p.add_argument("--configs", nargs="+", required=True, help="first = the baseline")
    p.add_argument("--control", default="flops", choices=["flops", "steps"],
                   help="compute protocol: equal FLOPs (flops) or equal updates x positions per update (steps)")
    p.add_argument("--steps", type=int, default=None, help="--control steps: optimizer updates per run")
    p.add_argument("--pack_len", type=int, default=512, help="--control steps: global positions per packed row")
    p.add_argument("--pack_rows", type=int, default=4, help="--control steps: packed rows per update")
    p.add_argument("--flop_budget", type=float, default=None)
    p.add_argument("--flop_budget_epochs", type=float, default=None, help="budget = X epochs of the first config")
    p.add_argument("--target_epochs", type=int, default=2, help="validation/checkpoint points per run")
    p.add_argument("--data_controlled", default="", help="comma list of run names to train data-controlled too")
    p.add_argument("--data_reference", default="lst_curriculum", help="run whose sequence count sets the data budget")
    p.add_argument("--silence_units_file", default=None, help="exp/kmeans_*/silence_units.json")
    p.add_argument("--eval_model", default="valid.loss.best.pth")
    p.add_argument("--eval_batch_size", type=int, default=16)
    p.add_argument("--plan_max_seqs", type=int, default=1000)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="OMP threads per subprocess (0: leave)")
    p.add_argument("--out_dir", default="exp/compare")
    p.add_argument("--results", default="exp/RESULTS.md")
    p.add_argument("--plot", default="exp/compare_accuracy_vs_flops.png")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (compare_models) %(levelname)s: %(message)s")
    for path in [args.token_list, args.train, args.valid, args.benchmark, f"{args.stats_dir}/train/seq_shape",
                 f"{args.stats_dir}/valid/seq_shape", *args.configs]:
        if not Path(path).exists():
            raise SystemExit(f"compare_models: {path} not found")
    if args.control == "flops" and (args.flop_budget is None) == (args.flop_budget_epochs is None):
        raise SystemExit("compare_models: --control flops needs exactly one of --flop_budget / --flop_budget_epochs")
    if args.control == "steps" and (args.steps is None or args.flop_budget is not None
                                    or args.flop_budget_epochs is not None):
        raise SystemExit("compare_models: --control steps needs --steps N (and no FLOP budget)")
    configs = {}
    for c in args.configs:
        conf = yaml.safe_load(Path(c).read_text())
        mc = conf.get("model_conf") or {}
        if conf.get("model") == "lst" and mc.get("patching") == "silence" and not mc.get("silence_units"):
            if not args.silence_units_file:
                raise SystemExit(f"{c}: silence patching needs silence_units (or --silence_units_file)")
            mc["silence_units"] = json.loads(Path(args.silence_units_file).read_text())["silence_units"]
            conf["model_conf"] = mc
        name = run_name(c)
        if name in configs:
            raise SystemExit(f"compare_models: two configs named {name}")
        if args.control == "steps":
            conf = with_packing(conf, args.pack_len, args.pack_rows, c)
        configs[name] = conf
    flop_budget = args.flop_budget
    if args.control == "flops" and flop_budget is None:
        from lst.budget import epochs_flop_budget
        from lst.vocab import read_token_list

        flop_budget = epochs_flop_budget(configs[run_name(args.configs[0])], read_token_list(args.token_list),
                                         args.train, args.flop_budget_epochs, args.plan_max_seqs)
        logging.info("FLOP budget = %.3g (%.2f epochs of %s)", flop_budget, args.flop_budget_epochs,
                     run_name(args.configs[0]))
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    rows = []
    for name, conf in configs.items():
        if args.control == "steps":
            rows.append(train_and_eval(name, conf, args, step_budget=args.steps))
        else:
            rows.append(train_and_eval(name, conf, args, flop_budget=flop_budget))
    for name in [n for n in args.data_controlled.split(",") if n]:
        ref = next((r for r in rows if r["name"] == args.data_reference), None)
        if ref is None or name not in configs:
            raise SystemExit(f"compare_models: data-controlled run {name} / reference {args.data_reference} "
                             f"not among the configs {sorted(configs)}")
        r = train_and_eval(f"{name}_data_{args.data_reference}", configs[name], args, seq_budget=ref["sequences"])
        rows.append(r)
    text = results_markdown(rows, args, flop_budget)
    plot(rows, args.plot, "raw")
    norm_plot = str(Path(args.plot).with_name(Path(args.plot).stem + "_norm.png"))
    plot(rows, norm_plot, "norm")
    text += f"\nPlots: `{args.plot}` (raw), `{norm_plot}` (normalised): accuracy vs training FLOPs, " \
            f"circles = compute-controlled ({args.control}), squares = data-controlled, bars = 95% CI.\n"
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text, encoding="utf-8")
    (Path(args.out_dir) / "rows.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
