"""Parameter counts and training FLOPs per token of a model config, without building the
weights: the model is constructed on PyTorch's ``meta`` device (shapes only, no memory), and
FLOPs come from the models' own formulas (lst/models/flops.py) on a synthetic sequence of a
given speech/text mix (the patch plan is numpy bookkeeping; no forward pass).

Used by ``python -m lst.bin.model_info``; the paper's 1B layout is in
egs/storycloze/lst1/conf/paper_1b_{lst,token_lm}.yaml.
"""
from typing import Dict, List, Optional

import torch

from lst.vocab import SOS_EOS_ID, SPEECH_MARK_ID, SPECIAL_TOKENS, TEXT_MARK_ID

PAPER_TEXT_VOCAB = 32000  # Llama-2 SentencePiece
PAPER_UNITS = 501  # HuBERT k-means


def build_on_meta(model_name: str, model_conf: Dict, vocab_size: int, unit_offset: int, n_units: int):
    from lst.models import MODELS

    if model_name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model_name!r}")
    with torch.device("meta"):
        model = MODELS[model_name](vocab_size=vocab_size, unit_offset=unit_offset, n_units=n_units, **model_conf)
    if isinstance(getattr(model, "step", None), torch.Tensor):  # the curriculum clock is read on the CPU
        model.step = torch.zeros((), dtype=torch.long)
    return model


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def parameter_counts(model) -> Dict[str, int]:
    """Parameters by part (disjoint; ties counted once) and the total."""
    total = sum(p.numel() for p in model.parameters())  # .parameters() yields a shared tensor once
    if hasattr(model, "glob"):  # LST
        parts = {"global": _count(model.glob),
                 "local_encoder": _count(model.local_enc) + _count(model.patch_enc) + _count(model.boundary_head),
                 "local_decoder": _count(model.local_dec) + _count(model.dec_proj),
                 "embeddings_and_head": _count(model.embed) + (0 if model.head.weight is model.embed.weight
                                                               else _count(model.head))}
        parts["of_which_local_cross_attention"] = (sum(_count(b.cross) for b in model.local_dec.blocks)
                                          + _count(model.patch_enc.cross))
    else:
        parts = {"global": _count(model.decoder),
                 "embeddings_and_head": _count(model.embed) + (0 if model.head.weight is model.embed.weight
                                                               else _count(model.head))}
    parts["total"] = total
    return parts


def mix_sequence(n_tokens: int, speech_frac: float, unit_offset: int, n_units: int, speech_span: int = 100,
                 seed: int = 0) -> List[int]:
    """A sequence of about `n_tokens` ids, a fraction `speech_frac` of them units: <sos/eos>,
    then alternating text spans (<t> + pieces) and speech spans (<s> + `speech_span` units)
    in the proportion asked."""
    g = torch.Generator().manual_seed(seed)
    ids = [SOS_EOS_ID]
    n_text_ids = max(1, unit_offset - len(SPECIAL_TOKENS))
    if speech_frac <= 0:
        return ids + [TEXT_MARK_ID] + (len(SPECIAL_TOKENS) + torch.randint(0, n_text_ids, (n_tokens - 2,), generator=g)).tolist()
    if speech_frac >= 1:
        return ids + [SPEECH_MARK_ID] + (unit_offset + torch.randint(0, n_units, (n_tokens - 2,), generator=g)).tolist()
    text_span = max(1, round(speech_span * (1 - speech_frac) / speech_frac))
    while len(ids) < n_tokens:
        ids += [TEXT_MARK_ID] + (len(SPECIAL_TOKENS) + torch.randint(0, n_text_ids, (text_span,), generator=g)).tolist()
        ids += [SPEECH_MARK_ID] + (unit_offset + torch.randint(0, n_units, (speech_span,), generator=g)).tolist()
    return ids[:n_tokens]


def flops_per_token(model, n_tokens: int, speech_frac: float, unit_offset: int, n_units: int) -> Dict[str, float]:
    """Training FLOPs per token (3 x forward; by part and total) on `mix_sequence` (static
    patching for curriculum models: their evaluation / final-phase regime)."""
    seq = torch.tensor([mix_sequence(n_tokens, speech_frac, unit_offset, n_units)])
    lens = torch.tensor([seq.shape[1]])
    model.eval()
    parts = {k: float(v.sum()) / seq.shape[1] for k, v in model.flops_per_sequence(seq, lens, None).items()}
    out = {f"{k}": v for k, v in parts.items()}
    out["total"] = sum(parts.values())
    if hasattr(model, "plan"):
        plan = model.plan(seq, lens, None)
        out["global_positions_per_token"] = float(plan.counts["patches"][0]) / seq.shape[1]
    else:
        out["global_positions_per_token"] = 1.0
    return out


def model_info(model_name: str, model_conf: Dict, vocab_size: Optional[int] = None, n_units: int = PAPER_UNITS,
               n_text: int = PAPER_TEXT_VOCAB, n_tokens: int = 4096, speech_fracs=(0.0, 0.257, 0.77)) -> Dict:
    """-> {"params": parameter_counts, "flops": {speech_frac: flops_per_token}, "vocab_size", ...}."""
    if vocab_size is None:
        vocab_size = len(SPECIAL_TOKENS) + n_text + n_units
    unit_offset = vocab_size - n_units
    model = build_on_meta(model_name, dict(model_conf), vocab_size, unit_offset, n_units)
    return {"model": model_name, "vocab_size": vocab_size, "unit_offset": unit_offset, "n_units": n_units,
            "params": parameter_counts(model),
            "flops": {f: flops_per_token(model, n_tokens, f, unit_offset, n_units) for f in speech_fracs}}
