"""Rotary position embedding (RoPE): positions enter attention as rotations of q and k,
so a cached key keeps its position when later queries arrive (what the KV cache needs)."""
import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, head_dim: int, max_len: int, theta: float = 10000.0):
        super().__init__()
        assert head_dim % 2 == 0, "RoPE needs an even head dim"
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (max_len, hd/2)
        self.max_len = max_len
        # not saved in checkpoints: a deterministic function of the config
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        # x: (B, H, L, hd); positions offset .. offset+L-1
        L = x.shape[-2]
        if offset + L > self.max_len:
            raise ValueError(f"sequence length {offset + L} exceeds max_len {self.max_len}")
        cos = self.cos[offset : offset + L].to(x.dtype)  # (L, hd/2)
        sin = self.sin[offset : offset + L].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (B, H, L, hd/2, 2)
        return out.flatten(-2)
