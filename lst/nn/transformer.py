"""A stack of blocks with a final norm; the one building block of every model here."""
import math
from typing import List, Optional

import torch
from torch import nn

from lst.nn.block import Block
from lst.nn.kv_cache import KVCache
from lst.nn.norm import RMSNorm


class Transformer(nn.Module):
    def __init__(self, dim: int, n_layers: int, n_heads: int, max_len: int, dropout: float = 0.0,
                 window: Optional[int] = None, cross_dim: Optional[int] = None, rope_theta: float = 10000.0,
                 ffn_multiple_of: int = 256):
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(
            Block(dim, n_heads, max_len, dropout, window, cross_dim, rope_theta, ffn_multiple_of)
            for _ in range(n_layers)
        )
        self.norm = RMSNorm(dim)

    def new_cache(self) -> KVCache:
        return KVCache(len(self.blocks), self.window)

    def cross_kvs(self, mem: torch.Tensor) -> List:
        """Every block's cross-attention keys/values of a memory (B, S, cross_dim)."""
        return [b.cross_kv(mem) if b.cross is not None else None for b in self.blocks]

    def forward(self, x: torch.Tensor, cache: Optional[KVCache] = None, mem: Optional[torch.Tensor] = None,
                mem_lo: Optional[torch.Tensor] = None, mem_hi: Optional[torch.Tensor] = None,
                mem_kvs: Optional[List] = None) -> torch.Tensor:
        # x: (B, L, dim) -> (B, L, dim); with a cache, x holds only the new positions
        for i, block in enumerate(self.blocks):
            x = block(x, cache.layers[i] if cache is not None else None, mem, mem_lo, mem_hi,
                      mem_kvs[i] if mem_kvs is not None else None)
        return self.norm(x)


def autocast(bf16: bool, device) -> "torch.autocast":
    """bf16 autocast on `device` (CUDA or CPU) when `bf16`, else a no-op context. Matmuls and
    attention run in bf16; norms, softmax statistics and the loss stay fp32 (autocast's rules)."""
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bool(bf16))


def _trunc_normal(w: torch.Tensor, std: float) -> None:
    nn.init.trunc_normal_(w, 0.0, std, -3 * std, 3 * std)


def init_weights(module: nn.Module, std: Optional[float] = None) -> None:
    """Initialise every Linear / Embedding of `module` (biases zero).

    std None (default): the paper's / BLT's init: truncated normal with std = fan_in^-0.5
    (embeddings: dim^-0.5), and inside each Transformer the output projections of block i
    (attention out, cross-attention out, MLP down) divided by sqrt(2 (i + 1)) ("current
    depth" scaling). A float: plain normal(0, std) everywhere (GPT-2 style)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if std is None:
                _trunc_normal(m.weight, m.in_features ** -0.5)
            else:
                nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            if std is None:
                _trunc_normal(m.weight, m.embedding_dim ** -0.5)
            else:
                nn.init.normal_(m.weight, 0.0, std)
    if std is not None:
        return
    for stack in module.modules():
        if isinstance(stack, Transformer):
            for i, block in enumerate(stack.blocks):
                scale = 1.0 / math.sqrt(2 * (i + 1))
                outs = [block.attn.out, block.mlp.w2] + ([block.cross.out] if block.cross is not None else [])
                for lin in outs:
                    _trunc_normal(lin.weight, lin.in_features ** -0.5 * scale)
