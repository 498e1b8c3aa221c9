"""Cache-friendly single-position decoding steps for transformer stacks (LST streams).

`stack_step` computes exactly what ``Transformer.forward(x, cache, mem)`` computes for one
new position in eval mode (same ops in the same order, so the result is bit-identical),
with less per-step overhead: no module-call machinery or identity dropouts, one RoPE pass
for q and k together, memoised attention masks, and cross-attention keys/values that the
caller computes once per memory (`cross_kv`) instead of once per position.
Eval mode only (no dropout): in training mode blocks without cross-attention fall back to
``Transformer.forward``; the batched path stays ``Transformer.forward``.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from lst.nn.attention import CrossAttention, SelfAttention, cached_causal_mask
from lst.nn.kv_cache import KVCache, LayerCache

KV = Tuple[torch.Tensor, torch.Tensor]


def cross_kv(cross: CrossAttention, mem: torch.Tensor) -> KV:
    """Keys/values (N, H, Lm, hd) of a cross-attention memory (N, Lm, mem_dim)."""
    N, Lm = mem.shape[:2]
    k, v = F.linear(mem, cross.kv.weight).view(N, Lm, 2, cross.n_heads, cross.head_dim).permute(2, 0, 3, 1, 4)
    return k, v


def stack_cross_kv(stack, mem: torch.Tensor) -> List[Optional[KV]]:
    """`cross_kv` of every block of a Transformer (None for blocks without cross-attention)."""
    return [cross_kv(b.cross, mem) if b.cross is not None else None for b in stack.blocks]


def _rope_qk(attn: SelfAttention, qk: torch.Tensor, offset: int) -> torch.Tensor:
    # qk: (2, B, H, L, hd): Rotary.forward applied to q and k at once (elementwise, same values)
    rope = attn.rope
    L = qk.shape[-2]
    if offset + L > rope.max_len:
        raise ValueError(f"sequence length {offset + L} exceeds max_len {rope.max_len}")
    cos = rope.cos[offset: offset + L]
    sin = rope.sin[offset: offset + L]
    if cos.dtype != qk.dtype:
        cos, sin = cos.to(qk.dtype), sin.to(qk.dtype)
    x1, x2 = qk[..., 0::2], qk[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


def _self_attn(attn: SelfAttention, x: torch.Tensor, cache: LayerCache) -> torch.Tensor:
    B, L, D = x.shape
    qkv = F.linear(x, attn.qkv.weight).view(B, L, 3, attn.n_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    offset = cache.length
    qk = _rope_qk(attn, qkv[:2], offset)
    q, k, v = qk[0], qk[1], qkv[2]
    k, v = cache.append(k, v)
    k_start = cache.start
    if k_start == 0 and k.shape[2] == L and (attn.window is None or L <= attn.window):
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    elif L == 1 and attn.window is None:
        y = F.scaled_dot_product_attention(q, k, v)
    elif L == 1:
        mask = cached_causal_mask(offset, L, k_start, k.shape[2], attn.window, x.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    else:  # unreachable for one query (stack_step asserts L == 1)
        raise AssertionError("stack_step: one position at a time")
    return F.linear(y.transpose(1, 2).reshape(B, L, D), attn.out.weight)


def _rms(norm, x: torch.Tensor) -> torch.Tensor:
    # RMSNorm.forward, with in-place ops on its own temporaries (same arithmetic)
    r = x.pow(2).mean(-1, keepdim=True).add_(norm.eps).rsqrt_()
    return (x * r).mul_(norm.weight)


def stack_step(stack, x: torch.Tensor, cache: KVCache, kvs: Optional[List[Optional[KV]]] = None) -> torch.Tensor:
    """One new position x (B, 1, dim) through a Transformer with its KV cache; kvs: the
    blocks' cross-attention keys/values (`stack_cross_kv`). Same result as
    ``stack(x, cache=cache, mem=mem)`` in eval mode."""
    assert x.shape[1] == 1
    if stack.training:  # dropout is active: the module path (no cross-attention memory here)
        assert kvs is None or all(kv is None for kv in kvs), "stack_step: cross-attention needs eval mode"
        return stack(x, cache=cache)
    for i, block in enumerate(stack.blocks):
        if block.cross is not None:
            B, L, D = x.shape
            cross = block.cross
            h = _rms(block.norm_c, x).reshape(B * L, 1, D)
            q = F.linear(h, cross.q.weight).view(B * L, 1, cross.n_heads, cross.head_dim).transpose(1, 2)
            k, v = kvs[i]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0)
            x = x + F.linear(y.transpose(1, 2).reshape(B * L, 1, D), cross.out.weight).view(B, L, D)
        x = x + _self_attn(block.attn, _rms(block.norm1, x), cache.layers[i])
        mlp = block.mlp
        x = x + F.linear(F.gelu(F.linear(_rms(block.norm2, x), mlp.fc.weight), approximate="tanh"), mlp.proj.weight)
    return _rms(stack.norm, x)
