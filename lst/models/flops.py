"""Training-FLOP accounting (matmul FLOPs incl. attention; training = 3 x forward).

Counted per sequence, from its real (unpadded) lengths, so a compute budget is the same
whatever the batching. A multiply-add is 2 FLOPs. Norms, softmax, RoPE and
element-wise ops are ignored (they are not matmuls and are small against them).
"""
from typing import Optional

import torch

TRAIN_FACTOR = 3.0  # backward ~ 2 x forward


def causal_keys(n: torch.Tensor, window: Optional[int] = None) -> torch.Tensor:
    """Sum over n query positions of the number of keys each attends (causal, optional window)."""
    n = n.double()
    full = n * (n + 1) / 2
    if window is None:
        return full
    w = float(window)
    # positions 0..w-1 see i+1 keys, later ones see w
    return torch.where(n <= w, full, w * (w + 1) / 2 + (n - w) * w)


def self_attn_layer_flops(n: torch.Tensor, dim: int, keys: torch.Tensor, mlp_mult: int = 4) -> torch.Tensor:
    """Forward FLOPs of one self-attention block over n positions.
    qkv + out projections 4*d^2, MLP 2*mult*d^2 per position; QK^T and AV 2*d per key."""
    n = n.double()
    return 2 * n * (4 * dim * dim + 2 * mlp_mult * dim * dim) + 2 * 2 * dim * keys


def cross_attn_flops(n_q: torch.Tensor, dim: int, n_mem: torch.Tensor, mem_dim: int, keys: torch.Tensor) -> torch.Tensor:
    """Forward FLOPs of a cross-attention: q/out projections on n_q queries, k/v projections
    on n_mem memory slots, QK^T and AV on `keys` (query, key) pairs in total."""
    n_q, n_mem, keys = n_q.double(), n_mem.double(), keys.double()
    return 2 * n_q * 2 * dim * dim + 2 * n_mem * 2 * mem_dim * dim + 2 * 2 * dim * keys


def head_flops(n: torch.Tensor, dim: int, vocab: int) -> torch.Tensor:
    return 2 * n.double() * dim * vocab


def token_lm_flops(lengths: torch.Tensor, d_model: int, n_layers: int, vocab: int) -> dict:
    """Baseline: every position is a global step; logits at every position."""
    n = lengths.double()
    fwd = n_layers * self_attn_layer_flops(n, d_model, causal_keys(n)) + head_flops(n, d_model, vocab)
    zero = torch.zeros_like(n)
    return {"global": TRAIN_FACTOR * fwd, "local_enc": zero, "local_dec": zero.clone()}


def lst_flops(n_items: torch.Tensor, n_units: torch.Tensor, n_patches: torch.Tensor, n_global_targets: torch.Tensor,
              n_local_targets: torch.Tensor, d_model: int, n_layers: int, local_d: int, enc_layers: int,
              dec_layers: int, window: int, cross_slots: int, vocab: int) -> dict:
    """LST per sequence. Global: the transformer over items (text tokens + patches) and the
    output head on the items that predict a token. Local encoder: sliding-window layers over
    units, the patch cross-attention (each patch query reads its own units) + MLP, and the
    projection to d_model. Local decoder: the context projection of every global output,
    per layer a cross-attention to `cross_slots` context vectors + a sliding-window layer,
    and the output head on the units that predict a token."""
    G, U, P = n_items.double(), n_units.double(), n_patches.double()
    glob = n_layers * self_attn_layer_flops(G, d_model, causal_keys(G)) + head_flops(n_global_targets, d_model, vocab)
    enc = (enc_layers * self_attn_layer_flops(U, local_d, causal_keys(U, window))
           + cross_attn_flops(P, local_d, U, local_d, U) + 2 * P * 8 * local_d * local_d + 2 * P * local_d * d_model)
    r = cross_slots
    dec = (2 * G * d_model * r * local_d
           + dec_layers * (self_attn_layer_flops(U, local_d, causal_keys(U, window))
                           + cross_attn_flops(U, local_d, r * U, local_d, r * U))
           + head_flops(n_local_targets, local_d, vocab))
    return {"global": TRAIN_FACTOR * glob, "local_enc": TRAIN_FACTOR * enc, "local_dec": TRAIN_FACTOR * dec}
