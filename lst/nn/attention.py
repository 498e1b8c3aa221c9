"""Causal self-attention (RoPE, optional sliding window, optional KV cache) and
cross-attention, both on top of F.scaled_dot_product_attention."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from lst.nn.kv_cache import LayerCache
from lst.nn.rope import Rotary


def causal_mask(q_start: int, n_q: int, k_start: int, n_k: int, window: Optional[int], device) -> torch.Tensor:
    """Bool (n_q, n_k), True = may attend. Query at absolute position p sees keys in
    (p - window, p] (or [0, p] without a window): never its own future."""
    q = torch.arange(q_start, q_start + n_q, device=device)[:, None]
    k = torch.arange(k_start, k_start + n_k, device=device)[None, :]
    mask = k <= q
    if window is not None:
        mask = mask & (k > q - window)
    return mask


_MASKS = {}


def cached_causal_mask(q_start: int, n_q: int, k_start: int, n_k: int, window: Optional[int], device) -> torch.Tensor:
    """`causal_mask`, memoised: it depends on the positions only through q_start - k_start,
    so incremental decoding reuses one tensor per shape instead of rebuilding it each step.
    The returned tensor is shared: never modify it in place."""
    key = (q_start - k_start, n_q, n_k, window, str(device))
    mask = _MASKS.get(key)
    if mask is None:
        if len(_MASKS) > 4096:
            _MASKS.clear()
        mask = _MASKS[key] = causal_mask(q_start - k_start, n_q, 0, n_k, window, device)
    return mask


def sliding_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int,
                             dropout_p: float = 0.0) -> torch.Tensor:
    """Causal attention where position p sees keys (p - window, p], in O(L * window):
    the sequence is cut into blocks of `window` queries, and each block attends only to its
    own keys and the previous block's (a full L x L mask would cost O(L^2) on CPU).
    q, k, v: (B, H, L, hd) -> (B, H, L, hd)."""
    B, H, L, hd = q.shape
    w = window
    nb = -(-L // w)
    pad = nb * w - L

    def blocks(x):  # (B, H, L, hd) -> (B*H, nb, w, hd)
        return F.pad(x, (0, 0, 0, pad)).reshape(B * H, nb, w, hd)

    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    # keys of block b = [block b-1, block b] -> (B*H, nb, 2w, hd); block -1 is zeros (masked)
    kk = torch.cat([F.pad(kb, (0, 0, 0, 0, 1, 0))[:, :-1], kb], dim=2)
    vv = torch.cat([F.pad(vb, (0, 0, 0, 0, 1, 0))[:, :-1], vb], dim=2)
    i = torch.arange(w, device=q.device)[:, None]  # query offset in its block
    j = torch.arange(2 * w, device=q.device)[None, :]  # key offset, w = start of own block
    allowed = (j <= i + w) & (j > i)  # key position in (p - w, p]
    mask = allowed.expand(nb, w, 2 * w).clone()
    mask[0, :, :w] = False  # there is no block before the first
    y = F.scaled_dot_product_attention(qb, kk, vv, attn_mask=mask, dropout_p=dropout_p)  # (B*H, nb, w, hd)
    return y.reshape(B, H, nb * w, hd)[:, :, :L]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, n_heads: int, max_len: int, dropout: float = 0.0,
                 window: Optional[int] = None, rope_theta: float = 10000.0):
        super().__init__()
        assert dim % n_heads == 0, f"dim {dim} not divisible by n_heads {n_heads}"
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.window = window
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.rope = Rotary(self.head_dim, max_len, rope_theta)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, cache: Optional[LayerCache] = None) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, L, hd)
        offset = cache.length if cache is not None else 0
        q, k = self.rope(q, offset), self.rope(k, offset)
        k_start = 0
        if cache is not None:
            k, v = cache.append(k, v)
            k_start = cache.start  # absolute position of k[:, :, 0] (after any window trimming)
        drop = self.dropout if self.training else 0.0
        if k_start == 0 and k.shape[2] == L and (self.window is None or L <= self.window):
            # plain training / first prefill: the fused causal kernel, no mask tensor
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        elif k_start == 0 and k.shape[2] == L:
            y = sliding_window_attention(q, k, v, self.window, drop)
        elif L == 1 and self.window is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # one new query sees all the past
        else:
            mask = causal_mask(offset, L, k_start, k.shape[2], self.window, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out(y.transpose(1, 2).reshape(B, L, D))


class CrossAttention(nn.Module):
    """Queries x (N, Lq, dim) attend to a memory (N, Lm, mem_dim); no positions (the memory
    is a set: a patch's units, or the pieces of one global vector)."""

    def __init__(self, dim: int, n_heads: int, mem_dim: Optional[int] = None, dropout: float = 0.0):
        super().__init__()
        assert dim % n_heads == 0
        mem_dim = mem_dim or dim
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(mem_dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mem: torch.Tensor, mem_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # mem_mask: bool (N, Lm), True = valid memory slot
        N, Lq, D = x.shape
        Lm = mem.shape[1]
        q = self.q(x).view(N, Lq, self.n_heads, self.head_dim).transpose(1, 2)  # (N, H, Lq, hd)
        k, v = self.kv(mem).view(N, Lm, 2, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (N, H, Lm, hd)
        mask = None if mem_mask is None else mem_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(N, Lq, D))
