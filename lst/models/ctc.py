"""A CTC head over the speech prompt of s2t sequences, for ASR fine-tuning of a backbone.

A decoder-only backbone fine-tuned on ``<sos/eos> <s> u1 .. uN <t> w1 .. wM <sos/eos>`` with
cross-entropy alone must learn the alignment from the transcript side and decodes freely,
so it loops (egs/an4/asr1/RESULTS.md). ESPnet's ASR adds a CTC loss on the encoder states;
here the encoder states are the backbone's own states at the speech-unit positions (the
token baseline's top layer, LST's local decoder), each causal. ``ctc_weight`` mixes the two
losses as ESPnet does: ``(1 - w) * attention + w * CTC``. Blank is the vocabulary's
``<blank>`` (id 0); the outputs are the text ids below ``unit_offset``.

The CTC loss is normalised per target token (not summed per utterance as in ESPnet), so it
has the scale of the per-token cross-entropy it is mixed with.

The backbone's states are causal: the state of a unit has seen none of the speech after it,
while ESPnet's encoder is bidirectional. ``ctc_adapter_layers`` > 0 puts a small
bidirectional LSTM (ESPnet's ``blstm`` encoder, residual) between the speech states and the
CTC head, over the speech positions only. The whole prompt is known before the first text
token is decoded, so the CTC scores may look ahead; the LM's own next-token scores stay causal.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from lst.vocab import BLANK_ID, SPECIAL_TOKENS, TEXT_MARK_ID

FIRST_TEXT_ID = len(SPECIAL_TOKENS)  # the text pieces follow the special tokens (SpeechTextVocab.text_offset)


def s2t_masks(seq: torch.Tensor, seq_lengths: torch.Tensor, unit_offset: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids -> (speech, text) bool masks (B, T): the units before each row's last <t>
    marker and the text pieces after it. A row without a marker, units or text pieces has
    both masks empty (it is not an s2t sequence and gets no CTC loss)."""
    T = seq.shape[1]
    pos = torch.arange(T, device=seq.device)[None].expand_as(seq)
    inside = pos < seq_lengths[:, None]
    mark = torch.where((seq == TEXT_MARK_ID) & inside, pos, torch.full_like(pos, -1)).amax(1)  # (B,)
    speech = inside & (pos < mark[:, None]) & (seq >= unit_offset)
    text = inside & (pos > mark[:, None]) & (seq >= FIRST_TEXT_ID) & (seq < unit_offset)
    usable = speech.any(1) & text.any(1)
    return speech & usable[:, None], text & usable[:, None]


def row_slots(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mask (B, T) -> (row, position, slot) of every masked entry, each (N,): slot is its
    place in its row once the row's masked entries are left-aligned (gather_rows)."""
    rank = mask.long().cumsum(1) - 1  # (B, T)
    b, t = mask.nonzero(as_tuple=True)
    return b, t, rank[b, t]


def gather_rows(x: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """x (B, T, ...) and mask (B, T) -> the masked entries of each row left-aligned,
    (B, S, ...) zero-padded, and their counts (B,)."""
    lengths = mask.sum(1)
    S = int(lengths.max()) if mask.numel() else 0
    out = x.new_zeros((x.shape[0], S) + tuple(x.shape[2:]))
    b, t, slot = row_slots(mask)
    out[b, slot] = x[b, t]
    return out, lengths


class SpeechAdapter(nn.Module):
    """Bidirectional LSTM over the speech states of each row, added to them (residual):
    (B, S, D) left-aligned states and their counts (B,) -> (B, S, D). Padding never reaches a
    real position (packed sequences)."""

    def __init__(self, d_model: int, n_layers: int, dropout: float = 0.0):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"ctc_adapter_layers needs an even model width (two directions of d/2), got {d_model}")
        self.lstm = nn.LSTM(d_model, d_model // 2, num_layers=n_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if n_layers > 1 else 0.0)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.norm(x), lengths.clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return x + h


def make_speech_adapter(d_model: int, n_layers: int, dropout: float = 0.0) -> Optional[SpeechAdapter]:
    """The model's ``ctc_adapter`` (None for 0 layers: the CTC head reads the causal states)."""
    if n_layers < 0:
        raise ValueError(f"ctc_adapter_layers must be >= 0, got {n_layers}")
    return SpeechAdapter(d_model, n_layers, dropout) if n_layers else None


def adapt_speech_states(adapter: Optional[nn.Module], states: torch.Tensor, speech: torch.Tensor) -> torch.Tensor:
    """states (B, T, D) at every position, speech (B, T) bool -> states whose speech positions
    went through the adapter, each row's speech positions as one sequence (the other positions
    unchanged). The inference path of what ctc_loss does on its gathered rows."""
    if adapter is None or not bool(speech.any()):
        return states
    x, lengths = gather_rows(states, speech)  # (B, S, D)
    y = adapter(x, lengths)
    out = states.clone()
    b, t, slot = row_slots(speech)  # the inverse of gather_rows
    out[b, t] = y[b, slot].to(out.dtype)
    return out


def ctc_log_probs(head: torch.nn.Module, states: torch.Tensor) -> torch.Tensor:
    """states (..., D) -> (..., C) log-probabilities over <blank> and the text ids; the other
    special ids are never CTC targets and get ~zero probability (a finite floor: -inf makes
    CTC's gradient NaN)."""
    logits = head(states).float()
    never = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    never[BLANK_ID + 1: FIRST_TEXT_ID] = True
    return logits.masked_fill(never, -1e4).log_softmax(-1)


def ctc_loss(head: torch.nn.Module, states: torch.Tensor, seq: torch.Tensor, seq_lengths: torch.Tensor,
             unit_offset: int, adapter: Optional[nn.Module] = None) -> Tuple[Optional[torch.Tensor], Dict]:
    """states (B, T, D) at every position of the padded batch `seq` (B, T) -> the CTC loss
    per target token over the s2t rows (None when the batch has none) and stats
    (loss_ctc, ctc_infeasible: rows whose transcript cannot fit their units). ``adapter``
    (SpeechAdapter or None) runs over each row's speech states first."""
    speech, text = s2t_masks(seq, seq_lengths, unit_offset)
    rows = speech.any(1)
    if not bool(rows.any()):
        return None, {}
    x, in_lens = gather_rows(states[rows], speech[rows])  # (R, S, D)
    if adapter is not None:
        x = adapter(x, in_lens)
    y, tgt_lens = gather_rows(seq[rows], text[rows])  # (R, L)
    logp = ctc_log_probs(head, x)  # (R, S, C)
    per_row = F.ctc_loss(logp.transpose(0, 1), y, in_lens, tgt_lens, blank=BLANK_ID, reduction="none",
                         zero_infinity=True)
    # CTC needs one frame per target plus a blank between repeated targets
    slot = torch.arange(y.shape[1], device=y.device)[None]
    repeats = ((y[:, 1:] == y[:, :-1]) & (slot[:, 1:] < tgt_lens[:, None])).sum(1)
    infeasible = (tgt_lens + repeats) > in_lens  # zero_infinity drops these rows' loss
    loss = per_row.sum() / tgt_lens.sum().clamp(min=1)
    return loss, {"loss_ctc": loss.detach(), "ctc_infeasible": infeasible.float().sum().detach()}


def mix_ctc(model, loss: torch.Tensor, stats: Dict, states: torch.Tensor, seq: torch.Tensor,
            seq_lengths: torch.Tensor) -> torch.Tensor:
    """ESPnet's joint objective (1 - w) * attention + w * CTC when the model has a CTC head
    (model.ctc_weight > 0) and the batch has s2t rows; stats gain loss_att and loss_ctc and
    "loss" becomes the mixed loss. states: (B, T, D) at every position of seq."""
    if model.ctc_head is None:
        return loss
    ctc, ctc_stats = ctc_loss(model.ctc_head, states, seq, seq_lengths, model.unit_offset,
                              getattr(model, "ctc_adapter", None))
    if ctc is None:
        return loss
    stats.update(ctc_stats, loss_att=loss.detach())
    loss = (1 - model.ctc_weight) * loss + model.ctc_weight * ctc
    stats["loss"] = loss.detach()
    return loss


def ctc_greedy(log_probs: torch.Tensor) -> List[int]:
    """(S, C) log-probabilities of one utterance -> ids: best path, repeats merged, blanks
    dropped."""
    best = log_probs.argmax(-1).tolist()
    out, prev = [], None
    for i in best:
        if i != prev and i != BLANK_ID:
            out.append(int(i))
        prev = i
    return out
