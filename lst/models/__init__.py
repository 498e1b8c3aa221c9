"""Model choices of the LST task: the token-level baseline and the Latent Speech-Text Transformer.

Both share one interface (forward -> loss/stats/weight, collect_feats, token_logprobs,
flops_per_sequence); `MODELS` maps the YAML `model:` name to the class.
"""
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

MODELS = {"token_lm": TokenLM, "lst": LSTModel}

__all__ = ["LSTModel", "MODELS", "TokenLM"]
