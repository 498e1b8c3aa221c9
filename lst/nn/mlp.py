"""Position-wise feed-forward block (GELU, 4x expansion)."""
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(dim, mult * dim, bias=False)
        self.proj = nn.Linear(mult * dim, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., dim)
        return self.drop(self.proj(nn.functional.gelu(self.fc(x), approximate="tanh")))
