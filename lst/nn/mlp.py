"""Position-wise feed-forward block: SwiGLU (Llama/BLT style, no biases).

hidden = multiple_of * ceil(8 * dim / 3 / multiple_of): 5632 for dim 2048 and 2816 for
dim 1024 with multiple_of 256 (the paper's 1B model, spec section 2.1)."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def swiglu_hidden(dim: int, multiple_of: int = 256) -> int:
    return multiple_of * math.ceil(8 * dim / 3 / multiple_of)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: Optional[int] = None, multiple_of: int = 256, dropout: float = 0.0):
        super().__init__()
        self.hidden = hidden or swiglu_hidden(dim, multiple_of)
        self.w1 = nn.Linear(dim, self.hidden, bias=False)  # gate
        self.w3 = nn.Linear(dim, self.hidden, bias=False)  # up
        self.w2 = nn.Linear(self.hidden, dim, bias=False)  # down
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., dim)
        return self.drop(self.w2(F.silu(self.w1(x)) * self.w3(x)))
