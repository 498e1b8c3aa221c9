#!/usr/bin/env python3
"""The compute-controlled comparison of issue 17 (driven by local/sweep.sh).

For every size (``--sizes "s:128x2,m:256x4,l:384x6"``: name:d_model x n_layers of the global
transformer; LST's local models are half as wide) and every class (``--classes``: token_lm,
lst_static, lst_curriculum, and lst_aligned / lst_silence if asked), runs are trained under

* ``flops``: every class gets the FLOP budget ``F_size`` (``--budget_epochs`` epochs of that
  size's token baseline over the training corpus, model accounting: ``lst.budget``);
* ``steps``: every class gets as many updates of the same batch size as the token baseline's
  ``flops`` run made (the paper's protocol: equal iterations; the baseline's ``steps`` run *is*
  its ``flops`` run and is reported under both controls, not trained twice);
* ``data`` (``--data_controlled``): the token baseline again, on as many training sequences as
  that size's ``--data_reference`` (LST curriculum) run saw under ``flops``.

Each run lives in ``<out_dir>/<size>/<class>_<control>`` (plan.json, train.yaml, ESPnet's
checkpoints, budget_ledger.json, eval/); every stage leaves a file, so a killed sweep resumes
where it stopped. Training runs ``--parallel`` at a time (default 2), one thread each. After
training, every kept epoch checkpoint gets its held-out NLL (``lst.bin.score_benchmark
--heldout``, FLOPs from the budget ledger) and the last checkpoint is scored on the benchmark
files. Rows go to RESULTS.json through ``lst.eval.results`` and to RESULTS.md, with PNG plots
(``lst.eval.plots``): held-out NLL and accuracy against training FLOPs.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

CLASSES = {  # class name -> (config file, model, patching)
    "token_lm": ("sweep_token_lm.yaml", "token_lm", "none"),
    "lst_static": ("sweep_lst_static.yaml", "lst", "static"),
    "lst_curriculum": ("sweep_lst_curriculum.yaml", "lst", "curriculum"),
    "lst_aligned": ("sweep_lst_aligned.yaml", "lst", "aligned"),
    "lst_silence": ("sweep_lst_silence.yaml", "lst", "silence"),
    "lst_static_dec3": ("sweep_lst_static_dec3.yaml", "lst", "static"),  # ablation: 3-layer local decoder
}
BASELINE = "token_lm"


@dataclass
class Size:
    name: str
    d_model: int
    n_layers: int


@dataclass
class Run:
    size: Size
    cls: str
    control: str  # flops | steps | data
    depends: Optional[str] = None  # run id whose ledger sets this run's budget

    @property
    def id(self) -> str:
        return f"{self.size.name}/{self.cls}_{self.control}"


def parse_sizes(spec: str) -> List[Size]:
    """"s:128x2,m:256x4" -> [Size("s", 128, 2), Size("m", 256, 4)]"""
    out = []
    for part in [p for p in spec.split(",") if p]:
        try:
            name, dims = part.split(":")
            d, n = dims.lower().split("x")
            out.append(Size(name, int(d), int(n)))
        except ValueError:
            raise SystemExit(f"sweep: bad size {part!r} (name:d_modelxn_layers, e.g. m:256x4)") from None
    if not out or len({s.name for s in out}) != len(out):
        raise SystemExit(f"sweep: --sizes {spec!r} must name at least one size, each once")
    return out


def plan_runs(sizes: List[Size], classes: List[str], controls: List[str], data_controlled: bool,
              data_reference: str = "lst_curriculum") -> List[List[Run]]:
    """Runs in two phases (phase 2 needs ledgers of phase 1). The baseline's steps run is its
    flops run (not listed again)."""
    if BASELINE not in classes:
        raise SystemExit(f"sweep: the classes must include the baseline {BASELINE}")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise SystemExit(f"sweep: unknown classes {unknown} (known: {sorted(CLASSES)})")
    bad = [c for c in controls if c not in ("flops", "steps")]
    if bad or not controls:
        raise SystemExit(f"sweep: --controls must be a subset of 'flops steps', got {controls}")
    if data_controlled and data_reference not in classes:
        raise SystemExit(f"sweep: the data reference {data_reference} is not among the classes")
    first, second = [], []
    for s in sizes:
        first.append(Run(s, BASELINE, "flops"))
        for c in classes:
            if c == BASELINE:
                continue
            if "flops" in controls or (data_controlled and c == data_reference):
                first.append(Run(s, c, "flops"))
            if "steps" in controls:
                second.append(Run(s, c, "steps", depends=f"{s.name}/{BASELINE}_flops"))
        if data_controlled:
            second.append(Run(s, BASELINE, "data", depends=f"{s.name}/{data_reference}_flops"))
    return [first, second]


def sized_config(base: Dict, size: Size) -> Dict:
    """The class config at this size: global d_model/n_layers/heads; LST local width d/2."""
    conf = json.loads(json.dumps(base))
    mc = conf.setdefault("model_conf", {})
    mc["d_model"], mc["n_layers"] = size.d_model, size.n_layers
    mc["n_heads"] = max(1, size.d_model // 64)
    if conf.get("model") == "lst":
        mc["local_d_model"] = max(16, size.d_model // 2)
        mc["local_heads"] = max(1, mc["local_d_model"] // 64)
    return conf


def run_budget(run: Run, ledgers: Dict[str, Dict], flop_budget: Dict[str, float]) -> Dict:
    """The budget of a run: flops -> {"flop_budget": the size's F}; steps -> {"step_budget":
    the baseline's update count}; data -> {"seq_budget": the sequences the reference run saw}."""
    if run.control == "flops":
        return {"flop_budget": flop_budget[run.size.name]}
    led = ledgers.get(run.depends)
    if led is None:
        raise RuntimeError(f"sweep: {run.id} needs the finished run {run.depends}")
    if run.control == "steps":
        return {"step_budget": int(led["updates"])}
    return {"seq_budget": int(led["sequences"])}


# ------------------------------------------------------------------------------- running
_log_lock = threading.Lock()


def env_one_thread(threads: int) -> Dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def call(cmd: List[str], log_file: Path, env) -> float:
    with _log_lock:
        logging.info("running: %s (log %s)", " ".join(cmd[:6]) + " ...", log_file)
    t0 = time.time()
    with open(log_file, "a") as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        tail = Path(log_file).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"failed (rc {r.returncode}): {' '.join(cmd[:5])} ...; see {log_file}\n{tail}")
    return time.time() - t0


class Sweep:
    def __init__(self, args):
        self.a = args
        self.out = Path(args.out_dir)
        self.ledgers: Dict[str, Dict] = {}
        self.flop_budget: Dict[str, float] = {}
        self.env = env_one_thread(args.threads)

    def base_config(self, cls: str) -> Dict:
        conf = yaml.safe_load((Path(self.a.conf_dir) / CLASSES[cls][0]).read_text())
        mc = conf.get("model_conf") or {}
        if mc.get("patching") == "silence" and not mc.get("silence_units"):
            f = self.a.silence_units_file
            if not f or not Path(f).exists():
                raise SystemExit(f"sweep: {cls} needs silence units: --silence_units_file {f!r} not found")
            mc["silence_units"] = json.loads(Path(f).read_text())["silence_units"]
        conf["train_corpus"] = self.a.train_corpus
        return conf

    def size_budget(self, size: Size) -> float:
        f = self.out / size.name / "flop_budget.json"
        if f.exists():
            return json.loads(f.read_text())["flop_budget"]
        if self.a.flop_budget:
            budget = float(self.a.flop_budget) * (size.d_model * size.d_model * size.n_layers) / \
                (self.a.flop_budget_ref_d * self.a.flop_budget_ref_d * self.a.flop_budget_ref_layers)
            how = f"--flop_budget {self.a.flop_budget} scaled by d_model^2 x n_layers"
        else:
            from lst.budget import epochs_flop_budget
            from lst.vocab import read_token_list

            budget = epochs_flop_budget(sized_config(self.base_config(BASELINE), size),
                                        read_token_list(self.a.token_list), self.a.train, self.a.budget_epochs,
                                        self.a.plan_max_seqs)
            how = f"{self.a.budget_epochs} epochs of {BASELINE} at size {size.name}"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"flop_budget": budget, "how": how}) + "\n")
        logging.info("size %s: FLOP budget %.4g (%s)", size.name, budget, how)
        return budget

    def train(self, run: Run) -> Dict:
        from lst.budget import LEDGER, apply_overrides, plan_training
        from lst.vocab import read_token_list

        d = self.out / run.id
        d.mkdir(parents=True, exist_ok=True)
        budget = run_budget(run, self.ledgers, self.flop_budget)
        conf = sized_config(self.base_config(run.cls), run.size)
        plan_file = d / "plan.json"
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
        else:
            plan = plan_training(conf, read_token_list(self.a.token_list), self.a.train, budget.get("flop_budget"),
                                 budget.get("seq_budget"), self.a.target_epochs, max_seqs=self.a.plan_max_seqs,
                                 step_budget=budget.get("step_budget"))
            plan_file.write_text(json.dumps(plan, indent=1))
        (d / "train.yaml").write_text(yaml.safe_dump(apply_overrides(conf, plan["overrides"]), sort_keys=False))
        wall_file = d / "train_wall_seconds"
        if not wall_file.exists():
            (key, value), = budget.items()
            b = [f"--{key}", repr(float(value)) if key == "flop_budget" else str(int(value))]
            cmd = [sys.executable, "-m", "lst.bin.budget", "train", "--config", str(d / "train.yaml"),
                   "--token_list", self.a.token_list, "--ngpu", str(self.a.ngpu), "--num_workers", "0",
                   "--resume", "true", "--train_data_path_and_name_and_type", f"{self.a.train},seq,text",
                   "--valid_data_path_and_name_and_type", f"{self.a.valid},seq,text",
                   "--train_shape_file", f"{self.a.stats_dir}/train/seq_shape",
                   "--valid_shape_file", f"{self.a.stats_dir}/valid/seq_shape", "--output_dir", str(d), *b]
            wall = call(cmd, d / "train.log", self.env)
            wall_file.write_text(f"{wall:.1f}\n")
        ledger = json.loads((d / LEDGER).read_text())
        self.ledgers[run.id] = ledger["final"]
        return {"plan": plan, "ledger": ledger}

    def evaluate(self, run: Run, trained: Dict) -> None:
        """Held-out NLL at every kept epoch checkpoint, benchmarks at the last one (one process)."""
        d = self.out / run.id
        ev = d / "eval"
        ev.mkdir(exist_ok=True)
        dev = "cuda" if self.a.ngpu > 0 else "cpu"
        epochs = sorted(int(e) for e, t in trained["ledger"]["epochs"].items() if t.get("updates"))
        ckpts = [(e, d / f"{e}epoch.pth") for e in epochs if (d / f"{e}epoch.pth").exists()]
        if not ckpts:
            raise RuntimeError(f"{run.id}: no epoch checkpoint kept (keep_nbest_models in {CLASSES[run.cls][0]}?)")
        todo = [(e, ck) for e, ck in ckpts if not (ev / f"heldout_ep{e}.json").exists()]
        last_e, last = ckpts[-1]
        out = ev / "bench.json"
        need_bench = bool(self.a.benchmarks) and not out.exists()
        if todo or need_bench:  # one process: held-out NLL of every checkpoint, benchmarks of the last
            main_ck = last if need_bench else todo[-1][1]
            cmd = [sys.executable, "-m", "lst.bin.score_benchmark", "--config", str(d / "config.yaml"),
                   "--model_file", str(main_ck), "--heldout", self.a.heldout, "--device", dev,
                   "--out", str(ev / "scores.json"), "--batch_size", str(self.a.eval_batch_size)]
            if todo:
                cmd += ["--heldout_model_files", *[str(ck) for _, ck in todo]]
            if need_bench:
                cmd += ["--benchmark", *self.a.benchmarks, "--scores_out", str(ev / "bench_scores.jsonl")]
            call(cmd, ev / "eval.log", self.env)
            res = json.loads((ev / "scores.json").read_text())
            for e, ck in todo:
                (ev / f"heldout_ep{e}.json").write_text(json.dumps({"model_file": str(ck),
                                                                     "heldout": res["heldout_by_model_file"][str(ck)]}))
            if need_bench:
                out.write_text(json.dumps(res, indent=1))
        (ev / "last_epoch").write_text(f"{last_e}\n")

    def do(self, run: Run) -> Optional[str]:
        try:
            t = self.train(run)
            self.evaluate(run, t)
            return None
        except Exception as e:  # reported; other runs go on
            logging.error("%s: %s", run.id, e)
            return f"{run.id}: {e}"

    def main(self) -> int:
        sizes = parse_sizes(self.a.sizes)
        phases = plan_runs(sizes, self.a.classes.split(), self.a.controls.split(), self.a.data_controlled,
                           self.a.data_reference)
        if self.a.report_only:  # write RESULTS.* from the run directories as they are; train nothing
            from sweep_report import write_report

            write_report(self.out, sizes, phases, self.a)
            return 0
        for s in sizes:
            self.flop_budget[s.name] = self.size_budget(s)
        errors = []
        for phase in phases:
            runnable = [r for r in phase if r.depends is None or r.depends in self.ledgers]
            skipped = [r.id for r in phase if r not in runnable]
            if skipped:
                errors.append(f"not run (dependency failed): {skipped}")
            with ThreadPoolExecutor(max_workers=self.a.parallel) as pool:
                errors += [e for e in pool.map(self.do, runnable) if e]
        from sweep_report import write_report

        write_report(self.out, sizes, phases, self.a)
        for e in errors:
            logging.error(e)
        return 1 if errors else 0


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--token_list", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--heldout", required=True, help="held-out corpus for NLL (corpus/test/seqs)")
    p.add_argument("--stats_dir", required=True)
    p.add_argument("--train_corpus", choices=["seqs", "docs"], default="seqs",
                   help="the kind of --train/--valid (docs: paper-style draws every epoch, stream_mix from the config)")
    p.add_argument("--benchmarks", nargs="*", default=[])
    p.add_argument("--conf_dir", default="conf")
    p.add_argument("--silence_units_file", default=None, help="<km_dir>/silence_units.json (class lst_silence)")
    p.add_argument("--sizes", default="s:128x2,m:256x4,l:384x6")
    p.add_argument("--classes", default="token_lm lst_static lst_curriculum")
    p.add_argument("--controls", default="flops steps")
    p.add_argument("--data_controlled", type=lambda s: s.lower() == "true", default=True)
    p.add_argument("--data_reference", default="lst_curriculum")
    p.add_argument("--budget_epochs", type=float, default=2.0, help="FLOP budget per size = epochs of its baseline")
    p.add_argument("--flop_budget", type=float, default=None, help="absolute budget for the reference size")
    p.add_argument("--flop_budget_ref_d", type=int, default=256)
    p.add_argument("--flop_budget_ref_layers", type=int, default=4)
    p.add_argument("--target_epochs", type=int, default=4, help="checkpoints (curve points) per run")
    p.add_argument("--plan_max_seqs", type=int, default=500)
    p.add_argument("--eval_batch_size", type=int, default=16)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--out_dir", default="exp/sweep")
    p.add_argument("--results_md", default="RESULTS.md")
    p.add_argument("--results_json", default="RESULTS.json")
    p.add_argument("--report_only", type=lambda s: s.lower() == "true", default=False,
                   help="only write RESULTS.md/RESULTS.json/plots from the finished runs (e.g. runs of other "
                        "classes at some sizes, or while a sweep is still running)")
    p.add_argument("--note", default="", help="a paragraph put at the top of RESULTS.md (e.g. what this pass is)")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (sweep) %(levelname)s: %(message)s")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return Sweep(args).main()


if __name__ == "__main__":
    sys.exit(main())
