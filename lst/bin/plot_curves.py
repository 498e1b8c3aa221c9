"""Plots of a RESULTS.json (lst.eval.results rows): per model size, held-out NLL against
training FLOPs and accuracy against training FLOPs (raw and length-normalised).

    python -m lst.bin.plot_curves --results RESULTS.json --out_dir exp/plots [--prefix sweep]

Writes ``<prefix>_nll_size<i>.png``, ``<prefix>_acc_size<i>.png`` and
``<prefix>_acc_norm_size<i>.png`` per size (size i = the i-th smallest parameter count of
each model class, ``lst.eval.plots.size_groups``) and prints the file names.
"""
import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--prefix", default="curves")
    args = p.parse_args(argv)
    from lst.eval.plots import plot_accuracy, plot_nll_curves, size_groups
    from lst.eval.results import ResultsError, read_results_json

    try:
        rows = read_results_json(args.results)
    except (ResultsError, FileNotFoundError) as e:
        raise SystemExit(f"plot_curves: {e}")
    written = []
    for i, group in enumerate(size_groups(rows)):
        params = ", ".join(sorted({f"{r['params_m']:.2f}M" for r in group}))
        out = Path(args.out_dir)
        if any(r["benchmark"] == "heldout" for r in group):
            f = out / f"{args.prefix}_nll_size{i}.png"
            plot_nll_curves(group, f, title=f"size {i} ({params}): held-out NLL against training FLOPs")
            written.append(f)
        for normalised, tag in ((False, "acc"), (True, "acc_norm")):
            if any(r["benchmark"] != "heldout" and r["normalised"] == normalised for r in group):
                f = out / f"{args.prefix}_{tag}_size{i}.png"
                plot_accuracy(group, f, normalised)
                written.append(f)
    if not written:
        raise SystemExit(f"plot_curves: {args.results} has no rows to plot")
    for f in written:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
