"""SpecAugment's time masks, for the discrete speech prompt of ASR fine-tuning.

ESPnet's ASR recipes regularise the encoder with SpecAugment: a few spans of input frames are
blanked in every training utterance (egs/an4/asr1's fbank conf: 2 time masks of 0-20 frames of
10 ms, i.e. up to 0.2 s each). A fine-tuned backbone reads unit ids instead of fbank frames, so
the analogue blanks the *embeddings* of spans of speech units in the prompt of each s2t row
(``<s> u1 .. uN <t> transcript``): zero vectors, as ESPnet's mask fills with zeros. The ids
are not changed, so patching, the CTC head's speech positions and every target are the same
as without masking. There is no frequency axis to mask in a unit sequence.

Masks are drawn only in training (``model.training``); decoding and validation see every unit.
``speech_masks`` = 0 (the default) turns it off. The width is counted in units, so the same
seconds need twice the width at 50 Hz as at 25 Hz.
"""
from typing import Dict, Optional

import torch

from lst.models.ctc import s2t_masks


def speech_span_mask(speech: torch.Tensor, n_masks: int, max_width: int,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """speech (B, T) bool: the positions that may be masked (each row's speech prompt) ->
    (B, T) bool: ``n_masks`` spans per row, each of a width drawn uniformly from
    0..max_width units (capped at the row's speech length) at a uniform start, counted over
    the row's speech positions only (a span never reaches outside ``speech``). Spans may
    overlap, as ESPnet's do."""
    if n_masks < 0 or max_width < 0:
        raise ValueError(f"speech masks need n_masks >= 0 and max_width >= 0, got {n_masks} and {max_width}")
    if n_masks == 0 or max_width == 0 or not bool(speech.any()):
        return torch.zeros_like(speech)
    B = speech.shape[0]
    device = speech.device
    count = speech.sum(1, keepdim=True)  # (B, 1) speech positions per row
    width = torch.randint(0, max_width + 1, (B, n_masks), generator=generator).to(device)
    width = torch.minimum(width, count)  # (B, n)
    room = (count - width + 1).clamp(min=1)  # possible starts per span
    start = (torch.rand((B, n_masks), generator=generator).to(device) * room).long()  # (B, n) in [0, room)
    slot = speech.long().cumsum(1) - 1  # (B, T): index of each speech position within its row
    inside = (slot[:, :, None] >= start[:, None, :]) & (slot[:, :, None] < (start + width)[:, None, :])
    return speech & inside.any(-1)


def hide_embeddings(emb: torch.Tensor, hidden: Optional[torch.Tensor]) -> torch.Tensor:
    """emb (B, T, D), hidden (B, T) bool or None -> emb with the hidden positions zeroed."""
    if hidden is None:
        return emb
    return emb.masked_fill(hidden[..., None], 0.0)


def training_speech_mask(model, seq: torch.Tensor, seq_lengths: torch.Tensor) -> Optional[torch.Tensor]:
    """The (B, T) positions of ``seq`` whose embeddings ``model`` hides in this training
    forward (its ``speech_masks`` spans of up to ``speech_mask_width`` units in each s2t row's
    speech prompt); None in eval mode or with ``speech_masks`` = 0."""
    if not model.training or not model.speech_masks:
        return None
    speech, _ = s2t_masks(seq, seq_lengths, model.unit_offset)
    return speech_span_mask(speech, model.speech_masks, model.speech_mask_width)


def add_masked_share(stats: Dict, hidden: Optional[torch.Tensor], seq: torch.Tensor, unit_offset: int) -> None:
    """stats["speech_masked"]: the share of the batch's unit positions that ``hidden`` masked
    (nothing when no mask was drawn)."""
    if hidden is not None:
        stats["speech_masked"] = hidden.sum().float() / (seq >= unit_offset).sum().clamp(min=1)
