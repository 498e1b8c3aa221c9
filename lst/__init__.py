"""lst: Latent Speech-Text Transformer toolkit."""

__version__ = "0.1.0"
