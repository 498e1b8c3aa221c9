"""Generation speed of LST vs the token baseline at a chosen model size (random weights).

The recipes' models are debug-sized (a 2-layer, 64-wide global model), where a decoding step
costs about the same as the Python around it, so their wall times say little about the
paper's regime (a global model far larger than the local ones). This times TTS-style
generation (a short text prompt, then exactly ``units`` units, <sos/eos> suppressed) and
ASR-style decoding (a ``units`` speech prefix, then ``text_tokens`` text tokens) for both
models with the same global transformer, the LST local encoder/decoder at half width, static
patches of ``patch_size``. Weights are random: only steps and seconds are meaningful.
Entry points: ``python -m lst.bin.benchmark decode`` (judged against the targets) and
``python -m lst.bin.decode_speed`` (a markdown table for a recipe's RESULTS.md).
"""
import argparse

import torch

from lst.downstream.decode import allowed_mask, asr_prompt, greedy_decode, tts_prompt
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM
from lst.vocab import SpeechTextVocab, build_token_list


def build(kind, vocab, args):
    torch.manual_seed(0)
    common = dict(vocab_size=len(vocab), unit_offset=vocab.unit_offset, n_units=vocab.n_units, d_model=args.d_model,
                  n_layers=args.n_layers, n_heads=args.n_heads, max_len=4096)
    if kind == "token_lm":
        return TokenLM(**common).eval()
    return LSTModel(**common, local_d_model=args.d_model // 2, local_enc_layers=1, local_dec_layers=args.local_dec_layers,
                    local_heads=max(1, args.n_heads // 2), window=64, patching="static",
                    patch_size=args.patch_size).eval()


def run_decode_benchmark(d_model: int = 256, n_layers: int = 8, n_heads: int = 4, local_dec_layers: int = 1,
                         patch_size: int = 4, units: int = 200, text_tokens: int = 20, repeats: int = 3,
                         threads: int = 1) -> dict:
    """TTS- and ASR-style greedy decoding of both models; best-of-``repeats`` seconds, global
    steps, and the token_lm / lst ratios, as a flat dict (``lst.tts_s``, ``tts_speedup``...)."""
    args = argparse.Namespace(d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                              local_dec_layers=local_dec_layers, patch_size=patch_size)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    vocab = SpeechTextVocab(build_token_list([f"▁w{i}" for i in range(100)], n_units=100))
    text = list(range(vocab.text_offset, vocab.text_offset + 10))
    unit_ids = [(7 * i) % 100 for i in range(units)]
    out = {"config.d_model": d_model, "config.n_layers": n_layers, "config.units": units,
           "config.text_tokens": text_tokens, "config.threads": threads}
    try:
        for kind in ("token_lm", "lst"):
            model = build(kind, vocab, args)
            tts_t, asr_t = [], []
            for _ in range(repeats):
                res = greedy_decode(model, tts_prompt(text), allowed_mask(vocab, "speech"), units, units)
                tts_t.append(res["seconds"])
                tts_steps = res["global_steps"] - res["prefill_steps"]
                res = greedy_decode(model, asr_prompt(vocab, unit_ids), allowed_mask(vocab, "text"), text_tokens,
                                    text_tokens)
                asr_t.append(res["seconds"])
                asr_steps = res["global_steps"]
            out[f"{kind}.params"] = sum(q.numel() for q in model.parameters())
            out[f"{kind}.tts_global_steps"] = tts_steps
            out[f"{kind}.tts_s"] = min(tts_t)
            out[f"{kind}.asr_global_steps"] = asr_steps
            out[f"{kind}.asr_s"] = min(asr_t)
    finally:
        torch.set_num_threads(previous_threads)
    out["tts_step_ratio"] = out["token_lm.tts_global_steps"] / out["lst.tts_global_steps"]
    out["tts_speedup"] = out["token_lm.tts_s"] / out["lst.tts_s"]
    out["asr_step_ratio"] = out["token_lm.asr_global_steps"] / out["lst.asr_global_steps"]
    out["asr_speedup"] = out["token_lm.asr_s"] / out["lst.asr_s"]
    return out
