"""Benchmarks that print a table: ``python -m lst.bin.benchmark {units,train,all}``.

* units: real-time factor of MFCC extraction + k-means apply on >= 10 minutes of audio.
* train: training throughput of the token baseline vs LST (static k=4) at equal global dims,
  their ratio, FLOP ratio, and achieved FLOP/s against a measured matmul peak.
* paper: training MFU of the paper's 1B layout (local 1x1024 / global 25x2048 / local 9x1024,
  k = 2, windows 512) on --device (bf16 on a GPU; on a CPU 2 global layers and 512 tokens).
* decode: TTS-style (units after a text prompt) and ASR-style (text after a speech prefix)
  greedy decoding with KV caches: global AR steps and wall time of both models (random weights,
  8-layer 256-wide global model, and again 1024-wide with half the units), and their ratios.

Every result is followed by ``target.<name>: PASS|MISS`` rows judged by
``lst.benchmarks.targets`` (the one place that holds the targets of issues 3, 4 and 7).
"""
import argparse
import json
import resource
import sys
import time

from lst.benchmarks.targets import judge


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def print_table(title: str, rows) -> None:
    rows = [(str(k), _format(v)) for k, v in rows]
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 20))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


# Each benchmark imports only what it times (torch and the models are heavy to import).
def bench_units(args) -> dict:
    from lst.benchmarks.units import run_units_benchmark
    from lst.bin import dump_features, dump_units, learn_kmeans

    tools = {"dump_features": dump_features.main, "learn_kmeans": learn_kmeans.main, "dump_units": dump_units.main}
    out = run_units_benchmark(tools, minutes=args.minutes)
    return {**out, **judge("units", out)}


def bench_train(args) -> dict:
    from lst.benchmarks.train import run_train_benchmark

    out = run_train_benchmark(steps=args.steps)
    return {**out, **judge("train", out)}


def bench_decode(args) -> dict:
    from lst.benchmarks.decode import run_decode_benchmark

    out = run_decode_benchmark(units=args.decode_units, repeats=2)
    out.update(judge("decode", out))
    if args.decode_large_d_model:
        # a global model wide enough that its weights, not Python/dispatch overhead, set the
        # cost of a step: the regime the paper's speed claim is about (local width d/2)
        big = run_decode_benchmark(d_model=args.decode_large_d_model, n_heads=8, units=args.decode_units // 2,
                                   repeats=2)
        prefix = f"d{args.decode_large_d_model}."
        big = {prefix + k: v for k, v in big.items()}
        out.update({**big, **judge("decode", big, prefix=prefix)})
    return out


def bench_paper(args) -> dict:
    """Training MFU of the paper's 1B layout (no targets: a measurement to plan GPU runs with)."""
    import torch

    from lst.benchmarks.train import run_paper_layout_benchmark

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    layers = args.paper_global_layers or (25 if device == "cuda" else 2)
    seq_len = args.paper_seq_len or (4096 if device == "cuda" else 512)
    return run_paper_layout_benchmark(device=device, n_layers=layers, seq_len=seq_len, steps=args.steps)


BENCHMARKS = {"units": bench_units, "train": bench_train, "decode": bench_decode}
EXTRA = {"paper": bench_paper}  # not part of "all": on a CPU it is slow and has no targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=sorted(BENCHMARKS) + sorted(EXTRA) + ["all"])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio minutes for the units benchmark")
    parser.add_argument("--steps", type=int, default=8, help="training steps per model for the train benchmark")
    parser.add_argument("--decode_units", type=int, default=400, help="units generated in the decode benchmark")
    parser.add_argument("--decode_large_d_model", type=int, default=1024,
                        help="also run the decode benchmark with this global width (half the units); 0: skip")
    parser.add_argument("--device", default="auto", help="paper: cpu, cuda or auto (cuda when available)")
    parser.add_argument("--paper_global_layers", type=int, default=0,
                        help="paper: global layers (0: all 25 on a GPU, 2 on a CPU)")
    parser.add_argument("--paper_seq_len", type=int, default=0, help="paper: tokens per sequence (0: 4096 GPU, 512 CPU)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    names = sorted(BENCHMARKS) if args.what == "all" else [args.what]
    results = {}
    for name in names:
        start = time.time()
        results[name] = {**BENCHMARKS, **EXTRA}[name](args)
        results[name]["benchmark_wall_s"] = time.time() - start
        print_table(f"benchmark: {name}", results[name].items())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print_table("process", [("peak_memory_MB", peak_mb)])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
