r"""Decoding speed of LST vs the token baseline at a chosen size (random weights), as a
markdown table for a recipe's RESULTS.md (``lst.benchmarks.decode`` does the timing).

    python -m lst.bin.decode_speed --d_model 256 --n_layers 8 --units 200 --out exp/speed.md
"""
import argparse
import sys
from pathlib import Path

from lst.benchmarks.decode import run_decode_benchmark
from lst.downstream.score import md_table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--n_layers", type=int, default=8)
    p.add_argument("--n_heads", type=int, default=4)
    p.add_argument("--local_dec_layers", type=int, default=1)
    p.add_argument("--patch_size", type=int, default=4)
    p.add_argument("--units", type=int, default=200)
    p.add_argument("--text_tokens", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    r = run_decode_benchmark(args.d_model, args.n_layers, args.n_heads, args.local_dec_layers, args.patch_size,
                             args.units, args.text_tokens, args.repeats, args.threads)
    rows = [[kind, r[f"{kind}.params"], r[f"{kind}.tts_global_steps"], r[f"{kind}.tts_s"],
             r[f"{kind}.asr_global_steps"], r[f"{kind}.asr_s"]] for kind in ("token_lm", "lst")]
    rows.append(["token_lm / lst", "", r["tts_step_ratio"], r["tts_speedup"], r["asr_step_ratio"], r["asr_speedup"]])
    text_out = (f"Global d_model={args.d_model}, {args.n_layers} layers; LST local width {args.d_model // 2}, "
                f"1 encoder + {args.local_dec_layers} decoder layers, static patches of {args.patch_size}; "
                f"{args.threads} thread(s); best of {args.repeats}. TTS: {args.units} units after a 10-token "
                f"prompt; ASR: {args.units}-unit prefix + {args.text_tokens} text tokens (prefill included).\n\n")
    text_out += md_table(["model", "params", "TTS global steps", "TTS s", "ASR global steps", "ASR s"], rows)
    print(text_out)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text_out)


if __name__ == "__main__":
    sys.exit(main())
