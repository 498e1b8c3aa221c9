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


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                     block: int = 64, dropout_p: float = 0.0) -> torch.Tensor:
    """Attention where query t sees the keys [lo[t], hi[t]) (lo, hi non-decreasing in t,
    as for the local decoder reading a window of complete patches). Queries are cut into
    blocks of `block`; each block reads only the key range its queries can see, so the
    cost is O(T * (window + block)) rather than O(T * S). A query with no visible key
    gets 0 (no global context yet).
    q: (B, H, T, hd); k, v: (B, H, S, hd); lo, hi: (B, T) long -> (B, H, T, hd)."""
    B, H, T, hd = q.shape
    S = k.shape[2]
    if S == 0 or T == 0:
        return q.new_zeros(q.shape)
    bq = min(block, T)
    nb = -(-T // bq)
    pad = nb * bq - T
    if pad:
        q = F.pad(q, (0, 0, 0, pad))
        lo = torch.cat([lo, lo[:, -1:].expand(B, pad)], 1)
        hi = torch.cat([hi, hi[:, -1:].expand(B, pad)], 1)
    lo_b, hi_b = lo.view(B, nb, bq), hi.view(B, nb, bq)
    start = lo_b[:, :, 0]  # (B, nb) smallest visible key of each block
    width = max(1, int((hi_b[:, :, -1] - start).max()))
    pos = start[..., None] + torch.arange(width, device=q.device)  # (B, nb, W) key positions
    idx = pos.clamp(max=S - 1).view(B, 1, nb * width, 1).expand(B, H, nb * width, hd)
    kb = k.gather(2, idx).view(B, H, nb, width, hd)
    vb = v.gather(2, idx).view(B, H, nb, width, hd)
    mask = (pos[:, :, None, :] >= lo_b[..., None]) & (pos[:, :, None, :] < hi_b[..., None])  # (B, nb, bq, W)
    empty = ~mask.any(-1)  # (B, nb, bq)
    mask = mask | (empty[..., None] & (torch.arange(width, device=q.device) == 0))
    y = F.scaled_dot_product_attention(q.view(B, H, nb, bq, hd), kb, vb, attn_mask=mask[:, None],
                                       dropout_p=dropout_p)  # (B, H, nb, bq, hd)
    y = y * (~empty)[:, None, ..., None].to(y.dtype)
    return y.reshape(B, H, nb * bq, hd)[:, :, :T]


class CrossAttention(nn.Module):
    """Queries x (N, Lq, dim) attend to a memory (N, Lm, mem_dim); no positions (the memory
    is a set: a patch's tokens, or the vectors of the recent global states)."""

    def __init__(self, dim: int, n_heads: int, mem_dim: Optional[int] = None, dropout: float = 0.0):
        super().__init__()
        assert dim % n_heads == 0
        mem_dim = mem_dim or dim
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(mem_dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.dropout = dropout

    def project_kv(self, mem: torch.Tensor):
        """mem (N, Lm, mem_dim) -> keys, values (N, H, Lm, hd)."""
        N, Lm = mem.shape[:2]
        k, v = self.kv(mem).view(N, Lm, 2, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return k, v

    def _q(self, x: torch.Tensor) -> torch.Tensor:
        N, Lq, _ = x.shape
        return self.q(x).view(N, Lq, self.n_heads, self.head_dim).transpose(1, 2)  # (N, H, Lq, hd)

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        N, H, Lq, hd = y.shape
        return self.out(y.transpose(1, 2).reshape(N, Lq, H * hd))

    def forward(self, x: torch.Tensor, mem: Optional[torch.Tensor] = None, mem_mask: Optional[torch.Tensor] = None,
                kv=None) -> torch.Tensor:
        """Every query sees the whole memory (mem_mask: bool (N, Lm) or (N, Lq, Lm), True =
        visible). kv: precomputed `project_kv(mem)`."""
        k, v = kv if kv is not None else self.project_kv(mem)
        mask = None
        if mem_mask is not None:
            mask = mem_mask[:, None, None, :] if mem_mask.dim() == 2 else mem_mask[:, None]
        y = F.scaled_dot_product_attention(self._q(x), k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self._out(y)

    def banded(self, x: torch.Tensor, kv, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Query t of x (B, T, dim) sees memory slots [lo[t], hi[t]) (see banded_attention)."""
        k, v = kv
        return self._out(banded_attention(self._q(x), k, v, lo, hi, dropout_p=self.dropout if self.training else 0.0))
