"""RESULTS.json + RESULTS.md + plots of a sweep (local/sweep.py), from the run directories.

Rows (lst.eval.results): held-out NLL at every evaluated checkpoint (FLOPs from the budget
ledger of that epoch), accuracies of the last checkpoint. The token baseline's flops run is
also reported under ``steps`` (it *is* the reference of that protocol).
"""
import json
import math
import platform
import time
from pathlib import Path
from typing import Dict, List

from lst.eval.results import accuracy_rows, nll_rows, run_fields, write_results_json

BASELINE = "token_lm"


def collect(out: Path, sizes, phases) -> (List[Dict], List[Dict]):
    from sweep import CLASSES

    rows, runs = [], []
    for phase in phases:
        for run in phase:
            d = out / run.id
            ledger_f, plan_f = d / "budget_ledger.json", d / "plan.json"
            if not (ledger_f.exists() and plan_f.exists() and (d / "eval/last_epoch").exists()):
                runs.append({"id": run.id, "status": "not finished" if d.exists() else "not run"})
                continue
            ledger, plan = json.loads(ledger_f.read_text()), json.loads(plan_f.read_text())
            _, model, patching = CLASSES[run.cls]
            controls = [run.control] + (["steps"] if run.cls == BASELINE and run.control == "flops" else [])
            final = ledger["final"]
            info = {"id": run.id, "status": "done", "size": run.size.name, "class": run.cls, "control": run.control,
                    "params_m": plan["params"] / 1e6, "flops": final["flops"], "updates": final["updates"],
                    "sequences": final["sequences"], "tokens": final["tokens"], "units": final["units"],
                    "wall_s": float((d / "train_wall_seconds").read_text()), "nll": {}, "bench": None}
            for c in controls:
                for e, t in sorted(ledger["epochs"].items(), key=lambda kv: int(kv[0])):
                    f = d / f"eval/heldout_ep{e}.json"
                    if f.exists():
                        h = json.loads(f.read_text())["heldout"]
                        rows += nll_rows(run_fields(model, patching, c, plan["params"], t["flops"]), h)
                        info["nll"][int(e)] = (t["flops"], h["speech"], h["text"])
                        info["heldout_final"] = h  # epochs ascend: the last one read is the final checkpoint
                bench = d / "eval/bench.json"
                if bench.exists():
                    b = json.loads(bench.read_text())
                    rows += accuracy_rows(run_fields(model, patching, c, plan["params"], final["flops"]), b)
                    info["bench"] = b
            runs.append(info)
    return rows, runs


def fmt_acc(e) -> str:
    lo, hi = e["ci95"]
    return f"{100 * e['accuracy']:.1f} [{100 * lo:.0f}, {100 * hi:.0f}]"


def flops_to_reach(nll: Dict[int, tuple], target: float):
    """FLOPs at which a run's held-out speech NLL curve first reaches ``target``: linear in
    log-FLOPs between the two checkpoints around the crossing. -> (flops, at_first_checkpoint)
    or (None, False) if it never does. At the first checkpoint the crossing may be earlier
    (nothing is measured before it), so the value is an upper bound there."""
    prev = None
    for _, (f, s, _) in sorted(nll.items()):
        if s is not None and s <= target:
            if prev is None:
                return f, True
            (f0, s0) = prev
            w = (s0 - target) / max(s0 - s, 1e-12)
            return float(math.exp(math.log(f0) + w * (math.log(f) - math.log(f0)))), False
        if s is not None:
            prev = (f, s)
    return None, False


def answer_lines(runs: List[Dict]) -> List[str]:
    """Per size: FLOPs at which each LST flops run first reaches the baseline's final held-out
    speech NLL (interpolated between checkpoints), and the text NLL at equal FLOPs."""
    out = []
    for size in sorted({r["size"] for r in runs if r["status"] == "done"}):
        base = next((r for r in runs if r.get("size") == size and r.get("class") == BASELINE
                     and r.get("control") == "flops" and r["nll"]), None)
        if base is None:
            continue
        bf, bs, bt = base["nll"][max(base["nll"])]
        for r in runs:
            if r.get("size") != size or r.get("class") == BASELINE or r.get("control") != "flops" or not r["nll"]:
                continue
            f, s, t = r["nll"][max(r["nll"])]
            hit, first = flops_to_reach(r["nll"], bs) if bs is not None else (None, False)
            reach = (f"reaches it at {'<= ' if first else ''}{hit:.3g} FLOPs = {'<= ' if first else ''}"
                     f"{hit / bf:.2f} x the baseline's" if hit else "does not reach it")
            out.append(f"- size {size}, {r['class']}: final speech NLL {s:.4f} vs baseline {bs:.4f} "
                       f"({s - bs:+.4f}); text {t:.4f} vs {bt:.4f} ({t - bt:+.4f}); {reach} "
                       f"(goal: <= 0.5 x with text no worse)")
    return out or ["- no finished size yet"]


def confidence_lines(runs: List[Dict]) -> List[str]:
    """Final-checkpoint held-out NLL differences against the size's token baseline (flops run;
    for the data-controlled baseline: against LST curriculum), with paired-bootstrap 95 %
    intervals over held-out sequences (lst.eval.scorer.paired_bootstrap_nll)."""
    from lst.eval.scorer import paired_bootstrap_nll

    L = ["| run | vs | speech NLL diff [95 % CI] | P(run better) | text NLL diff [95 % CI] | P(run better) |",
         "|---|---|---:|---:|---:|---:|"]
    n = 0
    for r in runs:
        if r["status"] != "done" or (r["class"] == BASELINE and r["control"] == "flops"):
            continue
        ref = f"{r['size']}/{BASELINE}_flops" if r["class"] != BASELINE else f"{r['size']}/lst_curriculum_flops"
        other = next((x for x in runs if x["id"] == ref and x["status"] == "done"), None)
        a, b = r.get("heldout_final"), other and other.get("heldout_final")
        if a is None or b is None:
            continue
        cells = []
        for kind in ("speech", "text"):
            d = paired_bootstrap_nll(a, b, kind)
            cells += ["-", "-"] if d is None else [f"{d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]",
                                                   f"{d['p_a_better']:.3f}"]
        L.append(f"| {r['id']} | {ref} | " + " | ".join(cells) + " |")
        n += 1
    return L if n else ["(no pair with per-sequence held-out scores yet)"]


def kind_nll(heldout: Dict) -> Dict[str, tuple]:
    """Held-out NLL per sequence kind (the id's prefix: speech, text, s2t, t2s, inter):
    {kind: (speech nats/unit or None, text nats/token or None)} from the per-sequence sums."""
    sums: Dict[str, List[float]] = {}
    for seq_id, (sp, n_sp, tx, n_tx) in heldout.get("per_sequence", {}).items():
        a = sums.setdefault(seq_id.split("_", 1)[0], [0.0, 0, 0.0, 0])
        a[0], a[1], a[2], a[3] = a[0] + sp, a[1] + n_sp, a[2] + tx, a[3] + n_tx
    return {k: (a[0] / a[1] if a[1] else None, a[2] / a[3] if a[3] else None) for k, a in sums.items()}


def kind_lines(runs: List[Dict]) -> List[str]:
    """Final held-out NLL by sequence kind, each run next to its size's token baseline (flops run):
    an aggregate difference can come from one kind (e.g. a kind the training mix never draws)."""
    L = ["| run | kind | speech: run / baseline | text: run / baseline |", "|---|---|---:|---:|"]
    fmt = lambda a, b: "-" if a is None or b is None else f"{a:.3f} / {b:.3f} ({a - b:+.3f})"  # noqa: E731
    for r in runs:
        if r["status"] != "done" or r["class"] == BASELINE or not r.get("heldout_final"):
            continue
        ref = next((x for x in runs if x["id"] == f"{r['size']}/{BASELINE}_flops" and x.get("heldout_final")), None)
        if ref is None:
            continue
        mine, base = kind_nll(r["heldout_final"]), kind_nll(ref["heldout_final"])
        for k in sorted(mine):
            if k in base:
                L.append(f"| {r['id']} | {k} | {fmt(mine[k][0], base[k][0])} | {fmt(mine[k][1], base[k][1])} |")
    return L if len(L) > 2 else ["(no per-sequence held-out scores)"]


def above_chance_lines(runs: List[Dict]) -> List[str]:
    """Per run: the benchmark/mode groups whose 95 % interval lies wholly above chance (issue 17's (c))."""
    L = []
    for r in runs:
        if r["status"] != "done" or not r["bench"]:
            continue
        res = r["bench"]["results"]
        above = [f"{g} {rule} {100 * res[g][rule]['accuracy']:.1f} (n={res[g][rule]['n']}, low "
                 f"{100 * res[g][rule]['ci95'][0]:.1f} > {100 * res[g]['chance']:.0f})"
                 for g in sorted(res) for rule in ("raw", "norm") if res[g][rule]["ci95"][0] > res[g]["chance"]]
        L.append(f"- {r['id']}: " + ("; ".join(above) if above else "none"))
    return L


def write_report(out: Path, sizes, phases, args) -> None:
    rows, runs = collect(out, sizes, phases)
    corpus = getattr(args, "train_corpus", "seqs")  # rows keep the issue's schema: one RESULTS.json per corpus
    write_results_json(rows, args.results_json)
    plots = []
    if rows:
        from lst.eval.plots import plot_accuracy, plot_nll_curves, size_groups

        plot_dir = Path(args.results_md).parent / "plots"
        for i, group in enumerate(size_groups(rows)):
            if any(r["benchmark"] == "heldout" for r in group):
                plot_nll_curves(group, plot_dir / f"nll_size{i}.png", title=f"size {i}: held-out NLL vs training FLOPs")
                plots.append(plot_dir / f"nll_size{i}.png")
            for norm, tag in ((False, "acc"), (True, "acc_norm")):
                if any(r["benchmark"] != "heldout" and r["normalised"] == norm for r in group):
                    plot_accuracy(group, plot_dir / f"{tag}_size{i}.png", norm)
                    plots.append(plot_dir / f"{tag}_size{i}.png")
    done = [r for r in runs if r["status"] == "done"]
    cpu_h = sum(r["wall_s"] for r in done) / 3600
    L = ["# Sweep results (generated by local/sweep.py; do not edit by hand)", ""]
    if args.note:
        L += [args.note, ""]
    L += [
         f"- written {time.strftime('%Y-%m-%d %H:%M:%S')}, machine: {platform.node()} "
         f"({platform.processor() or platform.machine()}), {args.threads} thread(s) per run, {args.parallel} runs at a time, "
         f"ngpu {args.ngpu}",
         f"- sizes `{args.sizes}`, classes `{args.classes}`, controls `{args.controls}`, data-controlled "
         f"{args.data_controlled} (reference {args.data_reference}); training corpus `{corpus}`; budget "
         + (f"--flop_budget {args.flop_budget}" if args.flop_budget else f"{args.budget_epochs} baseline epochs per size"),
         f"- training wall time of the finished runs: {cpu_h:.2f} h (thread-hours: x {args.threads}); "
         f"{len(done)} of {len(runs)} runs finished",
         f"- held-out NLL on `{args.heldout}`; benchmarks: {', '.join(f'`{b}`' for b in args.benchmarks) or 'none'}",
         "", "## Does LST reach the token baseline's held-out speech NLL with at most half its FLOPs?", ""]
    L += answer_lines(runs)
    L += ["", "## Final held-out NLL against the baseline, with 95 % intervals (paired bootstrap over held-out "
          "sequences; negative = lower NLL than the reference)", ""]
    L += confidence_lines(runs)
    L += ["", "## Final held-out NLL by sequence kind (nats per speech unit / per text token; run / baseline "
          "(difference))", ""]
    L += kind_lines(runs)
    L += ["", "## Runs", "", "| run | params (M) | FLOPs | updates | sequences | tokens | speech units | wall (s) "
          "| final NLL speech | final NLL text |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        if r["status"] != "done":
            L.append(f"| {r['id']} | {r['status']} |||||||||")
            continue
        _, s, t = r["nll"][max(r["nll"])] if r["nll"] else (0, None, None)
        L.append(f"| {r['id']} | {r['params_m']:.2f} | {r['flops']:.3g} | {r['updates']} | {r['sequences']} | "
                 f"{r['tokens']} | {r['units']} | {r['wall_s']:.0f} | {s if s is None else round(s, 4)} | "
                 f"{t if t is None else round(t, 4)} |")
    groups = sorted({g for r in done if r["bench"] for g in r["bench"]["results"]})
    if groups:
        for rule, title in (("raw", "summed log-likelihood"), ("norm", "length-normalised")):
            L += ["", f"## Accuracy % [95 % Wilson CI], {title}", "",
                  "| run |" + "".join(f" {g} |" for g in groups), "|---|" + "---:|" * len(groups)]
            for r in done:
                if r["bench"]:
                    res = r["bench"]["results"]
                    L.append(f"| {r['id']} |" + "".join(f" {fmt_acc(res[g][rule]) if g in res else '-'} |"
                                                        for g in groups))
    if groups:
        L += ["", "## Accuracies whose 95 % interval lies wholly above chance", ""] + above_chance_lines(runs)
    L += ["", "## Held-out NLL along each run (nats per speech unit / per text token)", "",
          "| run | epoch | FLOPs | speech | text |", "|---|---:|---:|---:|---:|"]
    for r in done:
        for e, (f, s, t) in sorted(r["nll"].items()):
            L.append(f"| {r['id']} | {e} | {f:.3g} | {s if s is None else round(s, 4)} | {t if t is None else round(t, 4)} |")
    if plots:
        L += ["", "## Plots", ""] + [f"![{p.stem}]({p.relative_to(Path(args.results_md).parent)})" for p in plots]
    Path(args.results_md).write_text("\n".join(L) + "\n", encoding="utf-8")
