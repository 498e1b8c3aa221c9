"""Training-throughput benchmark: TokenLM vs LST at equal global dims, same batches, one run.

Also home of `random_batch`, the synthetic speech-heavy batch generator shared by the
benchmark and the unit tests (the format of lst.data.sequence_format: <sos/eos> framed,
<s>/<t> markers, units >= unit_offset, seg_start = 1 on the first unit of each segment).
"""
import time
from typing import Dict, Optional

import numpy as np
import torch

from lst.vocab import BLANK_ID, SOS_EOS_ID, SPEECH_MARK_ID, TEXT_MARK_ID


def random_sequence(rng: np.random.Generator, length: int, unit_offset: int, n_units: int,
                    speech_frac: float = 0.9, seg_len=(2, 8), speech_span=(8, 64), text_span=(3, 12)):
    """One joint-id sequence of exactly `length` ids and its seg_start flags: alternating
    speech spans (a fraction `speech_frac` of spans) and text spans, each framed by its marker."""
    ids, seg = [SOS_EOS_ID], [0]
    body = length - 2
    n_text_tokens = unit_offset - 5
    while len(ids) - 1 < body:
        room = body - (len(ids) - 1)
        speech = rng.random() < speech_frac or n_text_tokens <= 0
        lo, hi = speech_span if speech else text_span
        span = min(room, int(rng.integers(lo, hi + 1)))
        ids.append(SPEECH_MARK_ID if speech else TEXT_MARK_ID)
        seg.append(0)
        for _ in range(span - 1):
            if speech:
                start = seg[-1] == 0 and ids[-1] == SPEECH_MARK_ID or rng.random() < 1.0 / np.mean(seg_len)
                ids.append(unit_offset + int(rng.integers(0, n_units)))
                seg.append(int(start))
            else:
                ids.append(5 + int(rng.integers(0, n_text_tokens)))
                seg.append(0)
    ids.append(SOS_EOS_ID)
    seg.append(0)
    return np.asarray(ids[:length]), np.asarray(seg[:length])


def random_batch(batch_size: int, max_len: int, unit_offset: int, n_units: int, seed: int = 0,
                 speech_frac: float = 0.9, min_len: Optional[int] = None, speech_span=(8, 64)):
    """(seq (B, T), seq_lengths (B,), seg_start (B, T)), padded with <blank> = 0."""
    rng = np.random.default_rng(seed)
    min_len = min_len or max_len
    lengths = rng.integers(min_len, max_len + 1, size=batch_size)
    seq = np.full((batch_size, max_len), BLANK_ID, dtype=np.int64)
    seg = np.zeros((batch_size, max_len), dtype=np.int64)
    for b, n in enumerate(lengths):
        ids, s = random_sequence(rng, int(n), unit_offset, n_units, speech_frac, speech_span=speech_span)
        ids[-1], s[-1] = SOS_EOS_ID, 0
        seq[b, :n], seg[b, :n] = ids, s
    return torch.from_numpy(seq), torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy(seg)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # CUDA kernels run asynchronously: time only finished work
        torch.cuda.synchronize(device)


def measure_matmul_peak(n: int = 1024, repeats: int = 5, device="cpu", dtype=torch.float32) -> float:
    """Achievable matmul FLOP/s on `device` in `dtype` (best of `repeats` n x n x n products)."""
    device = torch.device(device)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best


class ModuleTimer:
    """Wall time spent inside named submodules, forward and backward (module hooks; on a
    CPU every op is synchronous, so the spans are real). Backward spans run from the
    moment a module's output gradient is ready to its input gradients, so an op of another
    branch scheduled in between is counted there too: a close estimate, not a profile."""

    def __init__(self, modules: Dict[str, torch.nn.Module]):
        self.total: Dict[str, float] = {k: 0.0 for k in modules}
        self.active = False
        self._t0: Dict[str, float] = {}
        self.handles = []
        for name, m in modules.items():
            self.handles += [m.register_forward_pre_hook(self._start(name)), m.register_forward_hook(self._stop(name)),
                             m.register_full_backward_pre_hook(self._start(name)),
                             m.register_full_backward_hook(self._stop(name))]

    def _start(self, name):
        def hook(*_):
            self._t0[name] = time.perf_counter()
        return hook

    def _stop(self, name):
        def hook(*_):
            if self.active and name in self._t0:
                self.total[name] += time.perf_counter() - self._t0.pop(name)
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def _count(seq: torch.Tensor, lens: torch.Tensor, unit_offset: int):
    valid = torch.arange(seq.shape[1])[None] < lens[:, None]
    return int(valid.sum()), int(((seq >= unit_offset) & valid).sum())


def run_train_benchmark(steps: int = 4, warmup: int = 1, batch_size: int = 2, seq_len: int = 1024,
                        d_model: int = 256, n_layers: int = 8, n_heads: int = 4, local_d_model: Optional[int] = 64,
                        local_enc_layers: int = 1, local_dec_layers: int = 2, window: int = 64, patch_size: int = 4,
                        n_text: int = 1000, n_units: int = 500, speech_frac: float = 0.9, speech_span=(64, 256),
                        lr: float = 3e-4, threads: Optional[int] = 1, seed: int = 0, patch_vectors: int = 2,
                        decoder_window: int = 512, ffn_multiple_of: int = 256, time_modules: bool = True,
                        device: str = "cpu", bf16: bool = False, local_heads: Optional[int] = None) -> Dict:
    """Train TokenLM and LSTModel (static, k = patch_size) for `steps` optimizer steps each on
    the same speech-heavy random batches at equal global dims (speech spans of 64-256 units,
    i.e. 2.5-10 s of 25 Hz units, between short text spans). The two models' steps are
    interleaved so that load from other processes hits both alike.

    Returns a flat dict ("token_lm.tokens_per_s", "lst.speech_units_per_s", "config.d_model",
    ...). Per model: tokens/s, speech-units/s, step time, training FLOPs per sequence
    (global / local encoder / local decoder) and achieved FLOP/s (also as a fraction of the
    measured matmul peak, same thread count); plus the LST/TokenLM speech-units/s ratio and
    the TokenLM/LST training-FLOP ratio.

    time_modules: also time LST's modules (global, local encoder, patch encoder, local decoder,
    head; forward and backward, `ModuleTimer`) -> "lst.time_share.*" and "lst.local_time_share",
    next to "lst.local_flop_share".

    threads: torch intra-op threads during the run (None = leave torch's setting). Default 1:
    on a small shared CPU, intra-op threading makes every op wait for the slowest core, and
    under load from other processes it collapsed throughput (and LST's, which has more,
    smaller ops, most); one thread gave stable, comparable figures.

    device / bf16: run both models on this device ("cuda" on a GPU machine), with bf16 autocast
    (the models' `bf16` option); the peak is then measured in bf16 on that device, so
    "frac_of_peak" is the model FLOPs utilisation (MFU). Module timing is CPU-only."""
    from lst.models.lst_model import LSTModel
    from lst.models.token_lm import TokenLM

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        unit_offset = 5 + n_text
        vocab = unit_offset + n_units
        dev = torch.device(device)
        peak_dtype = torch.bfloat16 if bf16 else torch.float32
        common = dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads, dropout=0.0, max_len=seq_len,
                      ffn_multiple_of=ffn_multiple_of, bf16=bf16)
        torch.manual_seed(seed)
        models = {
            "token_lm": TokenLM(vocab, unit_offset, n_units, **common),
            "lst": LSTModel(vocab, unit_offset, n_units, local_d_model=local_d_model, local_heads=local_heads,
                            local_enc_layers=local_enc_layers,
                            local_dec_layers=local_dec_layers, window=window, patching="static",
                            patch_size=patch_size, patch_vectors=patch_vectors, decoder_window=decoder_window,
                            **common),
        }
        models = {k: m.to(dev) for k, m in models.items()}
        opts = {k: torch.optim.AdamW(m.parameters(), lr=lr) for k, m in models.items()}
        peak = measure_matmul_peak(device=dev, dtype=peak_dtype)
        batches = [tuple(x.to(dev) for x in random_batch(batch_size, seq_len, unit_offset, n_units, seed=seed + i,
                                                          speech_frac=speech_frac, speech_span=speech_span))
                   for i in range(warmup + steps)]
        res = {k: {"time_s": 0.0, "tokens": 0, "units": 0, "flops": 0.0, "loss_first": None, "loss_last": None,
                   "params_m": sum(p.numel() for p in m.parameters()) / 1e6} for k, m in models.items()}
        lst = models["lst"]
        timer = ModuleTimer({"global": lst.glob, "local_enc": lst.local_enc, "patch_enc": lst.patch_enc,
                             "local_dec": lst.local_dec, "head": lst.head}) if time_modules and dev.type == "cpu" else None
        for i, (seq, lens, seg) in enumerate(batches):
            for name, model in models.items():
                model.train()
                if timer is not None:
                    timer.active = i >= warmup and name == "lst"
                _sync(dev)
                t = time.perf_counter()
                loss, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                _sync(dev)
                dt = time.perf_counter() - t
                r = res[name]
                loss = float(loss.detach())
                r["loss_first"] = r["loss_first"] if r["loss_first"] is not None else loss
                r["loss_last"] = loss
                if i >= warmup:
                    n_tok, n_unit = _count(seq, lens, unit_offset)
                    f = model.flops_per_sequence(seq, lens, seg)
                    r["time_s"] += dt
                    r["tokens"] += n_tok
                    r["units"] += n_unit
                    r["flops"] += float(sum(v.sum() for v in f.values()))
                    for k, v in f.items():
                        r[f"gflops_{k}_per_seq"] = float(v.mean()) / 1e9
        if timer is not None:
            timer.remove()
        peak = max(peak, measure_matmul_peak(device=dev, dtype=peak_dtype))  # best of before / after: load varies
        cfg = dict(steps=steps, warmup=warmup, batch_size=batch_size, seq_len=seq_len, d_model=d_model,
                   n_layers=n_layers, n_heads=n_heads, local_d_model=models["lst"].local_d,
                   local_enc_layers=local_enc_layers, local_dec_layers=local_dec_layers, window=window,
                   patch_size=patch_size, patch_vectors=patch_vectors, decoder_window=decoder_window, vocab=vocab, speech_frac=speech_frac, speech_span=list(speech_span),
                   threads=torch.get_num_threads(), device=str(dev), bf16=bf16)
        # flat keys (model.metric), so a two-column table prints it directly
        out = {f"config.{k}": v for k, v in cfg.items()}
        out["matmul_peak_gflops"] = peak / 1e9
        for name, r in res.items():
            t = max(r["time_s"], 1e-9)
            per = {
                "tokens_per_s": r["tokens"] / t, "speech_units_per_s": r["units"] / t, "step_s": t / steps,
                "train_gflops_per_seq": r["flops"] / (steps * batch_size) / 1e9,
                **{k: v for k, v in r.items() if k.startswith("gflops_")},
                "achieved_gflops": r["flops"] / t / 1e9, "frac_of_peak": r["flops"] / t / peak,
                "params_m": r["params_m"], "loss_first": r["loss_first"], "loss_last": r["loss_last"],
            }
            out.update({f"{name}.{k}": v for k, v in per.items()})
        lf = {k[len("lst.gflops_"):-len("_per_seq")]: v for k, v in out.items()
              if k.startswith("lst.gflops_") and k.endswith("_per_seq")}
        out["lst.local_flop_share"] = (lf["local_enc"] + lf["local_dec"]) / max(sum(lf.values()), 1e-12)
        if timer is not None:  # share of the measured LST step time spent in each module
            for k, v in timer.total.items():
                out[f"lst.time_share.{k}"] = v / max(res["lst"]["time_s"], 1e-9)
            out["lst.local_time_share"] = sum(v for k, v in timer.total.items() if k != "global") / max(
                res["lst"]["time_s"], 1e-9)
        out["speech_units_per_s_ratio"] = out["lst.speech_units_per_s"] / out["token_lm.speech_units_per_s"]
        out["flop_ratio"] = out["token_lm.train_gflops_per_seq"] / out["lst.train_gflops_per_seq"]
        return out
    finally:
        torch.set_num_threads(old_threads)


def format_table(result: Dict) -> str:
    """A plain-text table of `run_train_benchmark`'s result."""
    rows = [("model", "tokens/s", "units/s", "step s", "train GFLOP/seq", "GFLOP/s", "% peak", "loss first->last")]
    for name in ("token_lm", "lst"):
        r = {k.split(".", 1)[1]: v for k, v in result.items() if k.startswith(name + ".")}
        rows.append((name, f"{r['tokens_per_s']:.0f}", f"{r['speech_units_per_s']:.0f}", f"{r['step_s']:.3f}",
                     f"{r['train_gflops_per_seq']:.2f}", f"{r['achieved_gflops']:.1f}", f"{100 * r['frac_of_peak']:.0f}",
                     f"{r['loss_first']:.2f}->{r['loss_last']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    lines.append(f"LST/TokenLM speech-units/s: {result['speech_units_per_s_ratio']:.2f}x   "
                 f"TokenLM/LST training FLOPs: {result['flop_ratio']:.2f}x   "
                 f"matmul peak: {result['matmul_peak_gflops']:.1f} GFLOP/s")
    lines.append("config: " + ", ".join(f"{k[7:]}={v}" for k, v in result.items() if k.startswith("config.")))
    return "\n".join(lines)


# The paper's 1B layout (spec 2.1; egs/storycloze/lst1/conf/paper_1b_*.yaml): local encoder
# 1 x 1024, global 25 x 2048 (16 heads), local decoder 9 x 1024, windows 512, k = 2, SwiGLU,
# Llama-2 vocabulary + 501 units. On a CPU only a few global layers and a short sequence fit
# a benchmark run, so the global depth and the length are arguments.
PAPER_LAYOUT = dict(d_model=2048, n_heads=16, local_d_model=1024, local_heads=16, local_enc_layers=1, local_dec_layers=9,
                    window=512, patch_vectors=2, decoder_window=512, ffn_multiple_of=256, n_text=32000,
                    n_units=501)


def run_paper_layout_benchmark(device: str = "cpu", n_layers: int = 25, seq_len: int = 4096, batch_size: int = 1,
                               steps: int = 4, warmup: int = 1, bf16: Optional[bool] = None) -> Dict:
    """Training MFU of the paper layout's shapes on `device` (bf16 autocast by default on CUDA):
    `run_train_benchmark` with :data:`PAPER_LAYOUT` and speech spans of 64-256 units."""
    bf16 = (torch.device(device).type == "cuda") if bf16 is None else bf16
    return run_train_benchmark(steps=steps, warmup=warmup, batch_size=batch_size, seq_len=seq_len, n_layers=n_layers,
                               device=device, bf16=bf16, threads=None if device != "cpu" else 1,
                               time_modules=False, **PAPER_LAYOUT)

