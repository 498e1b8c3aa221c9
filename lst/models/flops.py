"""Training-FLOP accounting (matmul FLOPs incl. attention; training = 3 x forward).

Counted per sequence, from its real (unpadded) lengths, so a compute budget is the same
whatever the batching. A multiply-add is 2 FLOPs. Norms, softmax, RoPE, pooling and
element-wise ops are ignored (they are not matmuls and are small against them); an
embedding lookup is 0 FLOPs (BLT's convention, spec section 10.6).

Linear layers are counted exactly as executed: `test/test_flops.py` checks the formula's
linear part against ``torch.utils.flop_counter.FlopCounterMode`` (its ``mm``/``addmm``
counts of forward + backward = 3 x forward) on unpadded sequences, for both models.
Attention (QK^T and AV, 2 x 2 x width FLOPs per (query, key) pair) is counted over the
pairs the masks allow: causal keys in the global model, the sliding window in the local
layers, a patch's own tokens in the patch encoder (k queries per patch) and the visible
window of complete patches (x k vectors) in the local decoder: the FLOPs a masked (flex /
block-sparse) kernel does, the convention of BLT's accounting. The dense kernels used on a
CPU compute more (blocked windows, padded patches), so FlopCounterMode cannot check this
part; the test checks it against the pair counts of the masks the model builds.
"""
from typing import Dict, Optional

import torch

from lst.nn.mlp import swiglu_hidden

TRAIN_FACTOR = 3.0  # backward = 2 x forward


def causal_keys(n: torch.Tensor, window: Optional[int] = None) -> torch.Tensor:
    """Sum over n query positions of the number of keys each attends (causal, optional window)."""
    n = n.double()
    full = n * (n + 1) / 2
    if window is None:
        return full
    w = float(window)
    # positions 0..w-1 see i+1 keys, later ones see w
    return torch.where(n <= w, full, w * (w + 1) / 2 + (n - w) * w)


def linear(n, d_in: int, d_out: int) -> torch.Tensor:
    """A bias-free Linear on n rows."""
    return 2.0 * torch.as_tensor(n).double() * d_in * d_out


def attention(pairs, dim: int) -> torch.Tensor:
    """QK^T and AV over `pairs` (query, key) pairs at width dim."""
    return 4.0 * torch.as_tensor(pairs).double() * dim


def self_attn_layer_flops(n: torch.Tensor, dim: int, keys: torch.Tensor, hidden: Optional[int] = None) -> Dict:
    """One block (self-attention + SwiGLU MLP) over n positions -> {"linear", "attn"}."""
    hidden = hidden or swiglu_hidden(dim)
    return {"linear": linear(n, dim, 3 * dim) + linear(n, dim, dim) + linear(n, dim, 2 * hidden) + linear(n, hidden, dim),
            "attn": attention(keys, dim)}


def cross_attn_flops(n_q, dim: int, n_mem, mem_dim: int, pairs) -> Dict:
    """q/out projections on n_q queries, k/v projections on n_mem memory slots, attention on pairs."""
    return {"linear": linear(n_q, dim, dim) * 2 + linear(n_mem, mem_dim, 2 * dim), "attn": attention(pairs, dim)}


def _add(*parts: Dict, scale: float = 1.0) -> Dict:
    out = {"linear": 0.0, "attn": 0.0}
    for p in parts:
        for k in out:
            out[k] = out[k] + p.get(k, 0.0) * scale
    return out


def head_flops(n, dim: int, vocab: int) -> torch.Tensor:
    return linear(n, dim, vocab)


def token_lm_detail(lengths: torch.Tensor, d_model: int, n_layers: int, vocab: int, ffn_hidden: Optional[int] = None):
    """Forward FLOPs by part ({"global": {"linear", "attn"}, "head": {...}}) of the baseline."""
    n = lengths.double()
    layer = self_attn_layer_flops(n, d_model, causal_keys(n), ffn_hidden)
    return {"global": _add(layer, scale=n_layers), "head": {"linear": head_flops(n, d_model, vocab), "attn": 0.0}}


def token_lm_flops(lengths: torch.Tensor, d_model: int, n_layers: int, vocab: int,
                   ffn_hidden: Optional[int] = None) -> dict:
    """Baseline: every position is a global step; logits at every position (all in "global")."""
    d = token_lm_detail(lengths, d_model, n_layers, vocab, ffn_hidden)
    fwd = sum(p["linear"] + p["attn"] for p in d.values())
    zero = torch.zeros_like(lengths.double())
    return {"global": TRAIN_FACTOR * fwd, "local_enc": zero, "local_dec": zero.clone()}


def lst_detail(n_tokens: torch.Tensor, n_patches: torch.Tensor, n_targets: torch.Tensor, dec_slots: torch.Tensor,
               d_model: int, n_layers: int, local_d: int, enc_layers: int, dec_layers: int, window: int, k: int,
               vocab: int, ffn_hidden: Optional[int] = None, local_ffn_hidden: Optional[int] = None,
               n_boundary=0.0) -> Dict:
    """Forward FLOPs of LST by part, each {"linear", "attn"}:
    global        the transformer over patches (causal over patch positions);
    local_enc     encoder layers over all tokens (sliding window);
    patch_enc     pooled query -> k queries, cross-attention to the patch's tokens (kv on
                  every token, k queries per patch), Linear k*dl -> d_model if widths differ;
    dec_cross     global state -> k vectors (dec_proj), and per decoder layer a cross-attention:
                  q/out on every token, k/v on k slots per patch, `dec_slots` visible
                  patches summed over positions (x k vectors);
    local_dec     decoder layers over all tokens (sliding window);
    head          the one output head on every target position (and the boundary head, a
                  Linear dl -> 1, on the `n_boundary` labelled units of aligned spans)."""
    n, P, dl = n_tokens.double(), n_patches.double(), local_d
    win = causal_keys(n, window)
    out = {
        "global": _add(self_attn_layer_flops(P, d_model, causal_keys(P), ffn_hidden), scale=n_layers),
        "local_enc": _add(self_attn_layer_flops(n, dl, win, local_ffn_hidden), scale=enc_layers),
        "patch_enc": _add({"linear": linear(P, dl, k * dl) + (linear(P, k * dl, d_model) if k * dl != d_model else 0.0)},
                          cross_attn_flops(P * k, dl, n, dl, k * n)),
        "dec_cross": _add({"linear": linear(P, d_model, k * dl)},
                          _add(cross_attn_flops(n, dl, P * k, dl, k * dec_slots.double()), scale=dec_layers)),
        "local_dec": _add(self_attn_layer_flops(n, dl, win, local_ffn_hidden), scale=dec_layers),
        "head": {"linear": head_flops(n_targets.double(), dl, vocab) + linear(n_boundary, dl, 1), "attn": 0.0},
    }
    return out


def lst_flops(n_tokens: torch.Tensor, n_patches: torch.Tensor, n_targets: torch.Tensor, dec_slots: torch.Tensor,
              d_model: int, n_layers: int, local_d: int, enc_layers: int, dec_layers: int, window: int, k: int,
              vocab: int, ffn_hidden: Optional[int] = None, local_ffn_hidden: Optional[int] = None,
              n_boundary=0.0) -> dict:
    """Training FLOPs per sequence in three disjoint parts: "global" (the transformer over
    patches), "local_enc" (encoder layers + patch encoder), "local_dec" (decoder layers, its
    cross-attention and projection, and the output head). See `lst_detail`."""
    d = lst_detail(n_tokens, n_patches, n_targets, dec_slots, d_model, n_layers, local_d, enc_layers, dec_layers,
                   window, k, vocab, ffn_hidden, local_ffn_hidden, n_boundary)
    tot = {name: part["linear"] + part["attn"] for name, part in d.items()}
    return {"global": TRAIN_FACTOR * tot["global"],
            "local_enc": TRAIN_FACTOR * (tot["local_enc"] + tot["patch_enc"]),
            "local_dec": TRAIN_FACTOR * (tot["dec_cross"] + tot["local_dec"] + tot["head"])}
