"""Pre-norm transformer block: [cross-attention] -> causal self-attention -> SwiGLU MLP.
The optional cross-attention comes first, as in BLT's local decoder, so each layer
re-reads the global context before mixing over tokens. RMSNorm on the queries and on the
memory (BLT: pre-norm on q and kv), residual, no positions in the cross-attention."""
from typing import Optional

import torch
from torch import nn

from lst.nn.attention import CrossAttention, SelfAttention
from lst.nn.kv_cache import LayerCache
from lst.nn.mlp import MLP
from lst.nn.norm import RMSNorm


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, max_len: int, dropout: float = 0.0,
                 window: Optional[int] = None, cross_dim: Optional[int] = None, rope_theta: float = 10000.0,
                 ffn_multiple_of: int = 256):
        super().__init__()
        self.cross = None
        if cross_dim is not None:
            self.norm_c = RMSNorm(dim)
            self.norm_m = RMSNorm(cross_dim)
            self.cross = CrossAttention(dim, n_heads, cross_dim, dropout)
        self.norm1 = RMSNorm(dim)
        self.attn = SelfAttention(dim, n_heads, max_len, dropout, window, rope_theta)
        self.norm2 = RMSNorm(dim)
        self.mlp = MLP(dim, multiple_of=ffn_multiple_of, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def cross_kv(self, mem: torch.Tensor):
        """Keys/values (B, H, S, hd) of a memory (B, S, cross_dim)."""
        return self.cross.project_kv(self.norm_m(mem))

    def forward(self, x: torch.Tensor, cache: Optional[LayerCache] = None, mem: Optional[torch.Tensor] = None,
                mem_lo: Optional[torch.Tensor] = None, mem_hi: Optional[torch.Tensor] = None,
                mem_kv=None) -> torch.Tensor:
        # x: (B, L, dim); mem: (B, S, cross_dim); position t of x sees slots [mem_lo[b, t], mem_hi[b, t])
        # (None: all slots)
        if self.cross is not None:
            kv = mem_kv if mem_kv is not None else self.cross_kv(mem)
            h = self.norm_c(x)
            if mem_lo is None:
                y = self.cross(h, kv=kv) if kv[0].shape[2] else torch.zeros_like(x)
            else:
                y = self.cross.banded(h, kv, mem_lo, mem_hi)
            x = x + self.drop(y)
        x = x + self.drop(self.attn(self.norm1(x), cache))
        return x + self.mlp(self.norm2(x))
