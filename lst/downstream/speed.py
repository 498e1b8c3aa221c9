r"""Generation speed of LST vs the token baseline at a chosen model size (random weights).

    python -m lst.downstream.speed --d_model 256 --n_layers 8 --units 200 --out exp/speed.md

The recipes' models are debug-sized (a 2-layer, 64-wide global model), where a decoding step
costs about the same as the Python around it, so their wall times say little about the
paper's regime (a global model far larger than the local ones). This tool times TTS-style
generation (a short text prompt, then exactly ``--units`` units, <sos/eos> suppressed) and
ASR-style decoding (a ``--units`` speech prefix, then ``--text_tokens`` text tokens) for both
models with the same global transformer, the LST local encoder/decoder at half width, static
patches of ``--patch_size``. Weights are random: only steps and seconds are meaningful.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

from lst.compat import ensure_espnet_importable

ensure_espnet_importable()

from lst.downstream.decode import CachedStream, allowed_mask, asr_prompt, greedy_decode, tts_prompt  # noqa: E402
from lst.downstream.score import md_table  # noqa: E402
from lst.models.lst_model import LSTModel  # noqa: E402
from lst.models.token_lm import TokenLM  # noqa: E402
from lst.vocab import SpeechTextVocab, build_token_list  # noqa: E402


def build(kind, vocab, args):
    torch.manual_seed(0)
    common = dict(vocab_size=len(vocab), unit_offset=vocab.unit_offset, n_units=vocab.n_units, d_model=args.d_model,
                  n_layers=args.n_layers, n_heads=args.n_heads, max_len=4096)
    if kind == "token_lm":
        return TokenLM(**common).eval()
    return LSTModel(**common, local_d_model=args.d_model // 2, local_enc_layers=1, local_dec_layers=args.local_dec_layers,
                    local_heads=max(1, args.n_heads // 2), window=64, patching="static",
                    patch_size=args.patch_size).eval()


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
    torch.set_num_threads(args.threads)
    vocab = SpeechTextVocab(build_token_list([f"▁w{i}" for i in range(100)], n_units=100))
    rows, res = [], {}
    text = list(range(vocab.text_offset, vocab.text_offset + 10))
    units = [(7 * i) % 100 for i in range(args.units)]
    for kind in ("token_lm", "lst"):
        model = build(kind, vocab, args)
        params = sum(q.numel() for q in model.parameters())
        tts_t, asr_t = [], []
        for _ in range(args.repeats):
            out = greedy_decode(model, tts_prompt(text), allowed_mask(vocab, "speech"), args.units, args.units)
            tts_t.append(out["seconds"])
            tts_steps = out["global_steps"] - out["prefill_steps"]
            out = greedy_decode(model, asr_prompt(vocab, units), allowed_mask(vocab, "text"), args.text_tokens,
                                args.text_tokens)
            asr_t.append(out["seconds"])
            asr_steps = out["global_steps"]
        res[kind] = (min(tts_t), tts_steps, min(asr_t), asr_steps)
        rows.append([kind, params, tts_steps, min(tts_t), asr_steps, min(asr_t)])
    a, b = res["token_lm"], res["lst"]
    rows.append(["token_lm / lst", "", a[1] / b[1], a[0] / b[0], a[3] / b[3], a[2] / b[2]])
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
