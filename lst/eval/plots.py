"""PNG plots of a comparison (matplotlib, Agg backend; no display needed).

* :func:`plot_nll_curves`: held-out NLL per speech unit and per text token against training
  FLOPs, one line per run (checkpoints as markers), final values written beside the lines.
* :func:`plot_accuracy`: accuracy against training FLOPs, one panel per benchmark/mode, 95 %
  Wilson intervals as bars, chance as a dashed line, the value written beside each point.
* :func:`plot_patch_boundaries`: the spectrogram of an utterance with its word timings, and
  under it one strip per patching showing where its patches start (:func:`patchings_of`
  calls ``lst.patching`` in one place).

Rows are RESULTS.json rows (:mod:`lst.eval.results`). :func:`size_groups` splits them into
model sizes: within each (model, patching) class the i-th smallest ``params_m`` is size i,
so a token baseline and an LST of one global size (different parameter counts, the LST
counting its local models) land in the same plot.
"""
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lst.eval.benchmark import BENCHMARKS, MODES
from lst.patching import Patcher

CONTROL_STYLE = {"flops": "-", "steps": "--", "data": ":"}
CONTROL_MARKER = {"flops": "o", "steps": "^", "data": "s"}
CLASS_COLOR = {("token_lm", "none"): "#444444", ("lst", "static"): "#1f77b4", ("lst", "curriculum"): "#d62728",
               ("lst", "aligned"): "#2ca02c", ("lst", "silence"): "#9467bd"}
CHANCE = {"sc": 0.5, "tsc": 0.5, "blimp": 0.5, "hellaswag": 0.25}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_key(r: Dict) -> Tuple:
    return (r["model"], r["patching"], r["control"], r["params_m"])


def run_label(key: Tuple) -> str:
    model, patching, control, params = key
    name = "token baseline" if model == "token_lm" else f"LST {patching}"
    return f"{name} ({control}, {params:.2f}M)"


def short_label(key: Tuple) -> str:
    """'tok/f', 'static/s', 'curr/d', ... (class / control initial) for crowded panels."""
    model, patching, control, _ = key
    name = "tok" if model == "token_lm" else {"curriculum": "curr"}.get(patching, patching)
    return f"{name}/{control[0]}"


def size_groups(rows: Sequence[Dict]) -> List[List[Dict]]:
    """Rows split by model size (module docstring); smallest size first."""
    by_class = defaultdict(set)
    for r in rows:
        by_class[(r["model"], r["patching"])].add(r["params_m"])
    rank = {(c, p): i for c, ps in by_class.items() for i, p in enumerate(sorted(ps))}
    groups = defaultdict(list)
    for r in rows:
        groups[rank[((r["model"], r["patching"]), r["params_m"])]].append(r)
    return [groups[i] for i in sorted(groups)]


def _save(fig, path, dpi: int = 110, palette: bool = False) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    if palette:  # 256-colour PNG: a spectrogram picture 3-4x smaller, no visible change
        from PIL import Image

        with Image.open(path) as im:
            q = im.convert("RGB").quantize(256)
        q.save(path, optimize=True)


def plot_nll_curves(rows: Sequence[Dict], path, title: str = "") -> None:
    """Held-out NLL (speech per unit, text per token) vs training FLOPs for the runs in ``rows``."""
    plt = _plt()
    nll = [r for r in rows if r["benchmark"] == "heldout"]
    if not nll:
        raise ValueError("plot_nll_curves: no held-out NLL rows")
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2))
    for ax, mode, unit in ((axes[0], "speech", "nats / speech unit"), (axes[1], "text", "nats / text token")):
        runs = defaultdict(list)
        for r in nll:
            if r["mode"] == mode:
                runs[run_key(r)].append((r["train_flops"], r["nll"]))
        for key, pts in sorted(runs.items()):
            pts.sort()
            x, y = zip(*pts)
            color = CLASS_COLOR.get(key[:2], None)
            ax.plot(x, y, CONTROL_STYLE.get(key[2], "-"), marker=CONTROL_MARKER.get(key[2], "o"), ms=4, color=color,
                    label=f"{run_label(key)}: {y[-1]:.3f} at {x[-1]:.2g}")
        ax.legend(fontsize=7, title="final NLL at FLOPs", title_fontsize=7, loc="best", framealpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("training FLOPs (model accounting)")
        ax.set_ylabel(f"held-out NLL ({unit})")
        ax.set_title(f"held-out {mode}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.margins(x=0.12)
    fig.suptitle(title or "held-out NLL against training compute (lines: flops control, dashed: steps, "
                 "dotted: data-controlled)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    _save(fig, path)


def plot_accuracy(rows: Sequence[Dict], path, normalised: bool = False, title: str = "") -> None:
    """Accuracy vs training FLOPs with 95 % intervals, one panel per benchmark/mode."""
    plt = _plt()
    acc = [r for r in rows if r["benchmark"] != "heldout" and r["normalised"] == normalised]
    if not acc:
        raise ValueError("plot_accuracy: no accuracy rows")
    panels = sorted({(r["benchmark"], r["mode"]) for r in acc}, key=lambda g: (BENCHMARKS.index(g[0]),
                                                                              MODES.index(g[1])))
    ncol = min(4, len(panels))
    nrow = (len(panels) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.1 * nrow + 0.9), squeeze=False)
    keys = sorted({run_key(r) for r in acc})
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    xs = [r["train_flops"] for r in acc if r["train_flops"] > 0]
    xlim = (min(xs) / 2, max(xs) * 2) if xs else None
    for ax, (bench, mode) in zip(axes.flat, panels):
        for j, key in enumerate(keys):
            pts = sorted((r["train_flops"], r["acc"], r["ci_low"], r["ci_high"]) for r in acc
                         if run_key(r) == key and (r["benchmark"], r["mode"]) == (bench, mode))
            if not pts:
                continue
            x, y, lo, hi = (np.asarray(v) for v in zip(*pts))
            x = x * (1 + 0.04 * (j - len(keys) / 2))  # small dodge so bars do not hide each other
            color = CLASS_COLOR.get(key[:2])
            ax.errorbar(x, 100 * y, yerr=np.clip([100 * (y - lo), 100 * (hi - y)], 0, None),  # Wilson ends round off
                         fmt=CONTROL_MARKER.get(key[2], "o"),
                        color=color, ms=4, capsize=2, lw=1, label=run_label(key))
            ax.text(1.03, 0.97 - 0.1 * j, f"{short_label(key)} {100 * y[-1]:.1f}", transform=ax.transAxes,
                    fontsize=6.5, color=color, va="top", ha="left")
        ax.axhline(100 * CHANCE.get(bench, 0.5), color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        if xlim:
            ax.set_xlim(*xlim)
        ticks = []
        for t in sorted({float(f"{x:.2g}") for x in xs}):
            if not ticks or t > 1.6 * ticks[-1]:  # labels that do not collide
                ticks.append(t)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        n = next(r["n"] for r in acc if (r["benchmark"], r["mode"]) == (bench, mode))
        ax.set_title(f"{bench} {mode} (n={n})", fontsize=9)
        ax.set_xlabel("training FLOPs", fontsize=8)
        ax.set_ylabel("accuracy %", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    legend_h = 0.25 * ((len(labels) + 2) // 3) + 0.2  # inches
    rule = "length-normalised (mean log-prob per unit/token)" if normalised else "summed log-likelihood (raw)"
    fig.suptitle(title or f"accuracy against training compute, {rule}; bars: 95 % Wilson interval", fontsize=10)
    fig.tight_layout(rect=(0, legend_h / (3.1 * nrow + 0.9), 1, 0.95))
    _save(fig, path)


# ----------------------------------------------------------------------------- patches
def span_flags(items: str) -> Tuple[List[int], List[int]]:
    """A speech item string '<s> 1 2 | 3 ...' -> (units, seg_start flags: 1 at the span start
    and after every '|', as lst.data.sequence_format.parse_sequence sets them)."""
    toks = items.split()
    if not toks or toks[0] != "<s>":
        raise ValueError(f"not a speech span: {items[:30]!r}")
    units, flags, new = [], [], True
    for t in toks[1:]:
        if t == "|":
            new = True
            continue
        units.append(int(t))
        flags.append(1 if new else 0)
        new = False
    return units, flags


def patchings_of(units: Sequence[int], seg_start: Sequence[int], patchings: Sequence[str], patch_size: int = 4,
                 max_patch_len: Optional[int] = 16, silence_units: Sequence[int] = ()) -> Dict[str, List[int]]:
    """{patching: patch lengths} of one speech span, as the model patches it at evaluation
    (curriculum resolves to its evaluation patching). The one call into lst.patching."""
    out = {}
    rng = np.random.default_rng(0)
    for name in patchings:
        kw = {"curriculum_total_steps": 3} if name == "curriculum" else {}
        p = Patcher(patching=name, patch_size=patch_size, max_patch_len=max_patch_len,
                    silence_units=list(silence_units) if name == "silence" else None, **kw)
        mode = p.resolve(0, training=False, rng=rng)
        lengths = list(p(list(units), list(seg_start), mode).lengths)
        if sum(lengths) != len(units):
            raise ValueError(f"patching {name}: patch lengths sum to {sum(lengths)}, not {len(units)} units")
        out[f"{name} (eval: {mode})" if mode != name else name] = lengths
    return out


def plot_patch_boundaries(audio: np.ndarray, sample_rate: int, words: Sequence, unit_rate_hz: float,
                          patches: Dict[str, List[int]], path, title: str = "") -> None:
    """Spectrogram + word timings ([word, start, end]) + one strip per patching (patch lengths
    in units at ``unit_rate_hz``), patch starts also drawn over the spectrogram for the first."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    dur = len(audio) / sample_rate
    n_strips = len(patches)
    fig = plt.figure(figsize=(max(10, min(16, 1.8 * dur)), 3.2 + 0.55 * n_strips))
    gs = fig.add_gridspec(2 + n_strips, 1, height_ratios=[3.0, 0.5] + [0.55] * n_strips, hspace=0.08)
    ax = fig.add_subplot(gs[0])
    nfft = 512 if sample_rate >= 16000 else 256
    dither = 1e-6 * np.random.default_rng(0).standard_normal(len(audio))  # no log of 0 in silent stretches
    ax.specgram(np.asarray(audio, dtype=np.float64) + dither, NFFT=nfft, Fs=sample_rate, noverlap=nfft // 2,
                cmap="magma")
    ax.set_ylim(0, min(8000, sample_rate / 2))
    ax.set_ylabel("Hz")
    ax.set_xlim(0, dur)
    ax.tick_params(labelbottom=False)
    wax = fig.add_subplot(gs[1], sharex=ax)
    for i, (w, s, e) in enumerate(words):
        wax.add_patch(Rectangle((s, 0), e - s, 1, color=("#e8e8e8" if i % 2 else "#cfcfcf")))
        wax.text((s + e) / 2, 0.5, w, ha="center", va="center", fontsize=7, rotation=0 if e - s > 0.25 else 60)
        ax.axvline(s, color="white", lw=0.5, alpha=0.6)
    wax.set_ylim(0, 1)
    wax.set_yticks([])
    wax.set_ylabel("words", rotation=0, ha="right", va="center", fontsize=8)
    wax.tick_params(labelbottom=False)
    for k, (name, lengths) in enumerate(patches.items()):
        pax = fig.add_subplot(gs[2 + k], sharex=ax)
        pos = 0
        for j, n in enumerate(lengths):
            s, e = pos / unit_rate_hz, (pos + n) / unit_rate_hz
            pax.add_patch(Rectangle((s, 0), e - s, 1, facecolor=("#9ecae1" if j % 2 else "#3182bd"), edgecolor="white",
                                    lw=0.4))
            pos += n
        pax.set_ylim(0, 1)
        pax.set_yticks([])
        mean = np.mean(lengths) if lengths else 0
        pax.set_ylabel(f"{name}\n{len(lengths)} patches, mean {mean:.1f}", rotation=0, ha="right", va="center",
                       fontsize=8)
        if k < n_strips - 1:
            pax.tick_params(labelbottom=False)
        else:
            pax.set_xlabel("time (s)")
    fig.suptitle(title or "patch boundaries over a held-out utterance", fontsize=10)
    fig.subplots_adjust(left=0.17, right=0.98, top=0.93, bottom=0.08 + 0.02 * (4 - min(4, n_strips)))
    _save(fig, path, dpi=90, palette=True)  # a spectrogram compresses badly: keep the file small
