"""Pre-norm transformer block: [cross-attention] -> causal self-attention -> MLP.
The optional cross-attention comes first, as in BLT's local decoder, so each layer
re-reads the global context before mixing over units."""
from typing import Optional

import torch
from torch import nn

from lst.nn.attention import CrossAttention, SelfAttention
from lst.nn.kv_cache import LayerCache
from lst.nn.mlp import MLP
from lst.nn.norm import RMSNorm


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, max_len: int, dropout: float = 0.0,
                 window: Optional[int] = None, cross_dim: Optional[int] = None, rope_theta: float = 10000.0):
        super().__init__()
        self.cross = None
        if cross_dim is not None:
            self.norm_c = RMSNorm(dim)
            self.cross = CrossAttention(dim, n_heads, cross_dim, dropout)
        self.norm1 = RMSNorm(dim)
        self.attn = SelfAttention(dim, n_heads, max_len, dropout, window, rope_theta)
        self.norm2 = RMSNorm(dim)
        self.mlp = MLP(dim, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: Optional[LayerCache] = None,
                mem: Optional[torch.Tensor] = None, mem_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # x: (B, L, dim); mem: (B*L, Lm, cross_dim), one small memory per position
        if self.cross is not None:
            B, L, D = x.shape
            h = self.norm_c(x).reshape(B * L, 1, D)
            x = x + self.drop(self.cross(h, mem, mem_mask).view(B, L, D))
        x = x + self.drop(self.attn(self.norm1(x), cache))
        return x + self.mlp(self.norm2(x))
