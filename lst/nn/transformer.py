"""A stack of blocks with a final norm; the one building block of every model here."""
from typing import Optional

import torch
from torch import nn

from lst.nn.block import Block
from lst.nn.kv_cache import KVCache
from lst.nn.norm import RMSNorm


class Transformer(nn.Module):
    def __init__(self, dim: int, n_layers: int, n_heads: int, max_len: int, dropout: float = 0.0,
                 window: Optional[int] = None, cross_dim: Optional[int] = None, rope_theta: float = 10000.0):
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(
            Block(dim, n_heads, max_len, dropout, window, cross_dim, rope_theta) for _ in range(n_layers)
        )
        self.norm = RMSNorm(dim)

    def new_cache(self) -> KVCache:
        return KVCache(len(self.blocks), self.window)

    def forward(self, x: torch.Tensor, cache: Optional[KVCache] = None,
                mem: Optional[torch.Tensor] = None, mem_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # x: (B, L, dim) -> (B, L, dim); with a cache, x holds only the new positions
        for i, block in enumerate(self.blocks):
            x = block(x, cache.layers[i] if cache is not None else None, mem, mem_mask)
        return self.norm(x)


def init_weights(module: nn.Module, std: float = 0.02):
    """Small normal init for linears/embeddings (GPT-2 style); zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
