"""Shared transformer building blocks (RMSNorm, RoPE attention, sliding window, cross-attention, KV cache)."""
from lst.nn.attention import CrossAttention, SelfAttention, causal_mask
from lst.nn.block import Block
from lst.nn.kv_cache import KVCache, LayerCache
from lst.nn.mlp import MLP
from lst.nn.norm import RMSNorm
from lst.nn.rope import Rotary
from lst.nn.transformer import Transformer, autocast, init_weights

__all__ = ["Block", "CrossAttention", "KVCache", "LayerCache", "MLP", "RMSNorm", "Rotary",
           "SelfAttention", "Transformer", "autocast", "causal_mask", "init_weights"]
