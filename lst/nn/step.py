"""Cache-friendly single-position decoding steps for transformer stacks (LST streams).

`stack_step` computes exactly what ``Transformer.forward(x, cache, mem)`` computes for one
new position in eval mode (same values: the tests compare both paths), with less per-step
overhead: no module-call machinery or identity dropouts, one RoPE pass for q and k
together (a complex multiply in float32), the sliding window's keys sliced instead of
masked, and cross-attention keys/values that the caller computes once per memory
(`Transformer.cross_kvs`: the local decoder's window of recent global states, updated
once per patch) instead of once per position.
Eval mode only (no dropout): in training mode it falls back to ``Transformer.forward``;
the batched path stays ``Transformer.forward``.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from lst.nn.attention import SelfAttention
from lst.nn.kv_cache import KVCache, LayerCache

KV = Tuple[torch.Tensor, torch.Tensor]


def _rotation(rope, offset: int, L: int) -> torch.Tensor:
    # (L, hd/2) complex cos + i sin of positions offset .. offset+L-1; the table is kept on
    # the Rotary module, rebuilt if its buffers were replaced (.to(device))
    table = getattr(rope, "_step_rotation", None)
    if table is None or table[0] is not rope.cos:
        table = (rope.cos, torch.complex(rope.cos, rope.sin))
        object.__setattr__(rope, "_step_rotation", table)  # a plain attribute, not a buffer
    return table[1][offset: offset + L]


def _rope_qk(attn: SelfAttention, qk: torch.Tensor, offset: int) -> torch.Tensor:
    # qk: (2, B, H, L, hd): Rotary.forward applied to q and k at once. In float32 as one
    # complex multiply, (x1 + i x2)(cos + i sin): Rotary's x1 cos - x2 sin, x1 sin + x2 cos
    # (equal up to float rounding, tested), in a third of the ops
    rope = attn.rope
    L = qk.shape[-2]
    if offset + L > rope.max_len:
        raise ValueError(f"sequence length {offset + L} exceeds max_len {rope.max_len}")
    if qk.dtype == torch.float32 and rope.cos.dtype == torch.float32:
        rot = _rotation(rope, offset, L)
        return torch.view_as_real(torch.view_as_complex(qk.unflatten(-1, (-1, 2))) * rot).flatten(-2)
    cos = rope.cos[offset: offset + L].to(qk.dtype)
    sin = rope.sin[offset: offset + L].to(qk.dtype)
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
        # one query at `offset` sees exactly the last `window` keys: slice them instead of
        # masking (the cache keeps window + 1 for multi-query prefill)
        y = F.scaled_dot_product_attention(q, k[:, :, -attn.window:], v[:, :, -attn.window:])
    else:  # unreachable for one query (stack_step asserts L == 1)
        raise AssertionError("stack_step: one position at a time")
    return F.linear(y.transpose(1, 2).reshape(B, L, D), attn.out.weight)


def _rms(norm, x: torch.Tensor) -> torch.Tensor:
    # RMSNorm.forward, with in-place ops on its own temporaries (same arithmetic)
    r = x.pow(2).mean(-1, keepdim=True).add_(norm.eps).rsqrt_()
    return (x * r).mul_(norm.weight)


def stack_step(stack, x: torch.Tensor, cache: KVCache, kvs: Optional[List[Optional[KV]]] = None) -> torch.Tensor:
    """One new position x (B, 1, dim) through a Transformer with its KV cache; kvs: the
    blocks' cross-attention keys/values (`Transformer.cross_kvs`; every slot visible; zero slots =
    no context yet). Same result as ``stack(x, cache=cache, mem_kvs=kvs)`` in eval mode."""
    assert x.shape[1] == 1
    if stack.training:  # dropout is active: the module path
        return stack(x, cache=cache, mem_kvs=kvs)
    for i, block in enumerate(stack.blocks):
        if block.cross is not None:
            B, L, D = x.shape
            cross = block.cross
            k, v = kvs[i]
            if k.shape[2]:
                h = _rms(block.norm_c, x)
                q = F.linear(h, cross.q.weight).view(B, L, cross.n_heads, cross.head_dim).transpose(1, 2)
                y = F.scaled_dot_product_attention(q, k, v)
                x = x + F.linear(y.transpose(1, 2).reshape(B, L, D), cross.out.weight)
        x = x + _self_attn(block.attn, _rms(block.norm1, x), cache.layers[i])
        mlp = block.mlp
        h = _rms(block.norm2, x)
        x = x + F.linear(F.silu(F.linear(h, mlp.w1.weight)) * F.linear(h, mlp.w3.weight), mlp.w2.weight)
    return _rms(stack.norm, x)


def patch_step(patch_enc, hp: torch.Tensor) -> torch.Tensor:
    """The patch vector of the one patch just closed in decoding: hp (1, L, dl) token
    states -> (1, d_global), the value of ``PatchEncoder.encode_one`` without index tensors,
    masks or module calls (every token of the patch is real). Training mode: the module path."""
    if patch_enc.training:
        return patch_enc.encode_one(hp)
    cross, k = patch_enc.cross, patch_enc.k
    h = hp[0]  # (L, dl)
    L, dl = h.shape
    H, hd = cross.n_heads, cross.head_dim
    q = F.linear(h.amax(0, keepdim=True), patch_enc.init_proj.weight).view(k, dl)  # (k, dl) pooled queries
    qh = F.linear(_rms(patch_enc.norm_q, q), cross.q.weight).view(k, H, hd).transpose(0, 1)  # (H, k, hd)
    kv = F.linear(_rms(patch_enc.norm_kv, h), cross.kv.weight).view(L, 2, H, hd).permute(1, 2, 0, 3)  # (2, H, L, hd)
    y = F.scaled_dot_product_attention(qh, kv[0], kv[1])  # (H, k, hd)
    z = (q + F.linear(y.transpose(0, 1).reshape(k, dl), cross.out.weight)).reshape(1, k * dl)
    return F.linear(z, patch_enc.out.weight) if patch_enc.out is not None else z
