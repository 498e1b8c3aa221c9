"""Key/value cache for incremental decoding: one (k, v) pair per self-attention layer."""
from typing import List, Optional

import torch


class LayerCache:
    """Keys/values seen so far by one layer; shapes (B, H, L_past, hd)."""

    def __init__(self, window: Optional[int] = None):
        self.k: Optional[torch.Tensor] = None
        self.v: Optional[torch.Tensor] = None
        self.window = window  # sliding-window layers only ever need the last `window` keys
        self.length = 0  # absolute number of positions seen (RoPE offset of the next query)
        self.start = 0  # absolute position of self.k[:, :, 0]

    def append(self, k: torch.Tensor, v: torch.Tensor):
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        self.length += k.shape[2]
        if self.window is not None and self.k.shape[2] > self.window + k.shape[2]:
            drop = self.k.shape[2] - (self.window + k.shape[2])
            # keep enough keys for the newest queries' windows; older keys are invisible anyway
            self.k, self.v = self.k[:, :, drop:], self.v[:, :, drop:]
            self.start += drop
        return self.k, self.v


class KVCache:
    """All layers of one transformer stack."""

    def __init__(self, n_layers: int, window: Optional[int] = None):
        self.layers: List[LayerCache] = [LayerCache(window) for _ in range(n_layers)]

    @property
    def length(self) -> int:
        return self.layers[0].length
