"""Benchmarks that print a table: ``python -m lst.bin.benchmark {units,train,all}``.

* units: real-time factor of MFCC extraction + k-means apply on >= 10 minutes of audio.
* train: training throughput of the token baseline vs LST (static k=4) at equal global dims,
  their ratio, FLOP ratio, and achieved FLOP/s against a measured matmul peak.
* decode: TTS-style (units after a text prompt) and ASR-style (text after a speech prefix)
  greedy decoding with KV caches: global AR steps and wall time of both models (random weights,
  8-layer 256-wide global model, and again 1024-wide with half the units), and their ratios.

Targets (issues 3 and 4): units >= 200x real time; LST >= 3x the baseline's speech units/s;
achieved FLOP/s >= 40 % of the matmul peak; LST TTS >= 3.5x fewer global steps and >= 2.5x
faster, ASR >= 1.5x faster (issue 7). The table says PASS/MISS for each.
"""
import argparse
import json
import resource
import sys
import time


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


def bench_units(args) -> dict:
    from lst.units.benchmark import run_units_benchmark

    return run_units_benchmark(minutes=args.minutes)


def bench_train(args) -> dict:
    from lst.models.benchmark import run_train_benchmark

    return run_train_benchmark(steps=args.steps)


def bench_decode(args) -> dict:
    from lst.downstream.speed import run_decode_benchmark

    out = run_decode_benchmark(units=args.decode_units, repeats=2)
    if args.decode_large_d_model:
        # a global model wide enough that its weights, not Python/dispatch overhead, set the
        # cost of a step: the regime the paper's speed claim is about (local width d/2)
        big = run_decode_benchmark(d_model=args.decode_large_d_model, n_heads=8, units=args.decode_units // 2,
                                   repeats=2)
        out.update({f"d{args.decode_large_d_model}.{k}": v for k, v in big.items()})
    return out


BENCHMARKS = {"units": bench_units, "train": bench_train, "decode": bench_decode}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=sorted(BENCHMARKS) + ["all"])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio minutes for the units benchmark")
    parser.add_argument("--steps", type=int, default=8, help="training steps per model for the train benchmark")
    parser.add_argument("--decode_units", type=int, default=400, help="units generated in the decode benchmark")
    parser.add_argument("--decode_large_d_model", type=int, default=1024,
                        help="also run the decode benchmark with this global width (half the units); 0: skip")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    names = sorted(BENCHMARKS) if args.what == "all" else [args.what]
    results = {}
    for name in names:
        start = time.time()
        results[name] = BENCHMARKS[name](args)
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
