"""TokenLM: the baseline. One decoder-only transformer over the joint speech-text
vocabulary; every text token and every speech unit is one autoregressive step.
Llama-style blocks (RMSNorm, RoPE, SwiGLU), the paper's init; packed batches through
`doc_ids` (lst/models/documents.py)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from espnet2.train.abs_espnet_model import AbsESPnetModel

from lst.models.ctc import adapt_speech_states, ctc_log_probs, make_speech_adapter, mix_ctc
from lst.models.documents import split_documents
from lst.models.flops import token_lm_flops
from lst.models.speech_mask import add_masked_share, hide_embeddings, training_speech_mask
from lst.nn import KVCache, Transformer, autocast, init_weights
from lst.vocab import SPEECH_MARK_ID, TEXT_MARK_ID


def target_side(seq: torch.Tensor, seq_lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: position t lies after the last modality marker (<t> or <s>) of its
    sequence, i.e. in the part a downstream task generates (the transcript of an s2t
    sequence, the units and <sos/eos> of a t2s one). A sequence without a marker is all
    target side."""
    T = seq.shape[1]
    pos = torch.arange(T, device=seq.device)[None].expand_as(seq)
    is_marker = ((seq == TEXT_MARK_ID) | (seq == SPEECH_MARK_ID)) & (pos < seq_lengths[:, None])
    last_marker = torch.where(is_marker, pos, torch.full_like(pos, -1)).amax(1)  # (B,)
    return pos > last_marker[:, None]


def nll_stats(logp: torch.Tensor, pred: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
              unit_offset: int, weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict]:
    """logp/pred/targets/valid: same shape (any), logp = log-prob of each target; weight
    (same shape, optional) scales each target's NLL (the loss is the weighted mean).
    Returns the loss and the stats dict (loss, loss_text, loss_speech, acc, acc_speech,
    over the valid targets with weight > 0); a split with no targets gets None (ESPnet
    skips it)."""
    w = valid.to(logp.dtype) if weight is None else valid.to(logp.dtype) * weight.to(logp.dtype)
    valid = w > 0
    is_unit = targets >= unit_offset
    n = valid.sum().clamp(min=1)
    loss = -(logp * w).sum() / w.sum().clamp(min=1e-8)

    def split(mask):
        m = mask & valid
        if not bool(m.any()):
            return None
        return (-(logp * m).sum() / m.sum()).detach()

    correct = (pred == targets) & valid
    stats = {
        "loss": loss.detach(),
        "loss_text": split(~is_unit),
        "loss_speech": split(is_unit),
        "acc": (correct.sum() / n).detach().float(),
        "acc_speech": ((correct & is_unit).sum() / (is_unit & valid).sum()).detach().float()
        if bool((is_unit & valid).any()) else None,
    }
    return loss, stats


def prompt_weights(seq: torch.Tensor, seq_lengths: torch.Tensor, pos: torch.Tensor,
                   prompt_loss_weight: float) -> Optional[torch.Tensor]:
    """Per-target loss weights for targets at (b, t) = pos[..., 0], pos[..., 1]: 1 on the
    target side (see target_side), prompt_loss_weight before it. None when the weight is 1
    (plain LM loss)."""
    if prompt_loss_weight == 1.0:
        return None
    side = target_side(seq, seq_lengths)[pos[..., 0], pos[..., 1]]
    return torch.where(side, torch.ones_like(side, dtype=torch.float32),
                       torch.full_like(side, prompt_loss_weight, dtype=torch.float32))


class TokenLM(AbsESPnetModel):
    def __init__(self, vocab_size: int, unit_offset: int, n_units: int, d_model: int = 256, n_layers: int = 4,
                 n_heads: int = 4, dropout: float = 0.0, max_len: int = 2048, rope_theta: float = 10000.0,
                 ffn_multiple_of: int = 256, init_std: Optional[float] = None, tie_embeddings: bool = False,
                 prompt_loss_weight: float = 1.0, ctc_weight: float = 0.0, ctc_adapter_layers: int = 0,
                 speech_masks: int = 0, speech_mask_width: int = 10, bf16: bool = False):
        super().__init__()
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        # < 1 for downstream fine-tuning: down-weights the loss on the prompt (everything up
        # to the last modality marker), e.g. 0 trains ASR on the transcript only
        self.prompt_loss_weight = prompt_loss_weight
        # > 0 for ASR fine-tuning: SpecAugment-style time masks on the speech prompt
        # (lst/models/speech_mask.py), in training only
        self.speech_masks, self.speech_mask_width = speech_masks, speech_mask_width
        self.vocab_size, self.unit_offset, self.n_units = vocab_size, unit_offset, n_units
        self.d_model, self.n_layers = d_model, n_layers
        self.bf16 = bf16  # bf16 autocast of the forward (weights and loss stay fp32)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.decoder = Transformer(d_model, n_layers, n_heads, max_len, dropout, rope_theta=rope_theta,
                                   ffn_multiple_of=ffn_multiple_of)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        # > 0 for ASR fine-tuning: a CTC head on the top states of the speech prompt
        # (lst/models/ctc.py); outputs <blank> + the text ids
        self.ctc_weight = ctc_weight
        self.ctc_head = nn.Linear(d_model, unit_offset) if ctc_weight > 0 else None
        # > 0 layers: a bidirectional adapter between the speech states and the CTC head (ctc.py)
        self.ctc_adapter = make_speech_adapter(d_model, ctc_adapter_layers, dropout) if ctc_weight > 0 else None
        init_weights(self, init_std)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    # ---- core -------------------------------------------------------------------------
    def states(self, seq: torch.Tensor, cache: Optional[KVCache] = None,
               hidden: Optional[torch.Tensor] = None) -> torch.Tensor:
        # seq: (B, L) -> top-layer states (B, L, d); hidden (B, L) bool: embeddings zeroed
        with autocast(self.bf16, seq.device):
            return self.decoder(self.drop(hide_embeddings(self.embed(seq), hidden)), cache)

    def logits(self, seq: torch.Tensor, cache: Optional[KVCache] = None) -> torch.Tensor:
        # seq: (B, L) -> (B, L, V); logits[:, t] predicts seq[:, t+1]
        with autocast(self.bf16, seq.device):
            return self.head(self.states(seq, cache)).float()

    def _target_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor,
                         hidden: Optional[torch.Tensor] = None):
        h = self.states(seq, hidden=hidden)  # (B, T, d)
        with autocast(self.bf16, seq.device):
            logits = self.head(h).float()[:, :-1]  # (B, T-1, V); the head runs on all T (as counted in flops.py)
        targets = seq[:, 1:]  # (B, T-1)
        valid = torch.arange(1, seq.shape[1], device=seq.device)[None] < seq_lengths[:, None]
        logp = -F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
        return logp, logits, targets, valid, h

    # ---- ESPnet interface -------------------------------------------------------------
    def forward(self, seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor] = None,
                doc_ids: Optional[torch.Tensor] = None, **kwargs) -> Tuple[torch.Tensor, Dict, torch.Tensor]:
        batch_size = seq.shape[0]
        if doc_ids is not None:
            seq, seq_lengths, seg_start, _ = split_documents(seq, seq_lengths, seg_start, doc_ids)
        seq = seq[:, : int(seq_lengths.max())]
        hidden = training_speech_mask(self, seq, seq_lengths)  # (B, T) or None
        logp, logits, targets, valid, h = self._target_logprobs(seq, seq_lengths, hidden)
        B, T = targets.shape
        pos = torch.stack(torch.meshgrid(torch.arange(B, device=seq.device), torch.arange(1, T + 1, device=seq.device),
                                         indexing="ij"), -1)  # (B, T-1, 2): (b, t) of each target
        weight = prompt_weights(seq, seq_lengths, pos, self.prompt_loss_weight)
        loss, stats = nll_stats(logp, logits.argmax(-1), targets, valid, self.unit_offset, weight)
        loss = mix_ctc(self, loss, stats, h, seq, seq_lengths)
        add_masked_share(stats, hidden, seq, self.unit_offset)
        flops = self.flops_per_sequence(seq, seq_lengths, seg_start)
        for k, v in flops.items():
            stats[f"gflops_{k}"] = (v.mean() / 1e9).detach().float()
        return loss, stats, torch.tensor(batch_size, device=seq.device)

    def collect_feats(self, seq: torch.Tensor, seq_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def token_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor,
                       seg_start: Optional[torch.Tensor] = None, doc_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T): log p(seq[b, t] | seq[b, :t]); 0 at t = 0 (and at each document's first
        token) and on padding."""
        if doc_ids is not None:
            s2, l2, g2, split = split_documents(seq, seq_lengths, seg_start, doc_ids)
            return split.merge(self.token_logprobs(s2, l2, g2))
        logp, _, _, valid, _ = self._target_logprobs(seq, seq_lengths)
        out = torch.zeros(seq.shape, dtype=logp.dtype, device=seq.device)
        out[:, 1:] = logp.masked_fill(~valid, 0.0)
        return out

    @torch.no_grad()
    def ctc_logprobs(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, C) CTC log-probabilities at every position (ctc_weight > 0)."""
        if self.ctc_head is None:
            raise ValueError("this model has no CTC head (fine-tune it with model_conf ctc_weight > 0)")
        states = adapt_speech_states(self.ctc_adapter, self.states(seq), seq >= self.unit_offset)
        return ctc_log_probs(self.ctc_head, states)

    def flops_per_sequence(self, seq, seq_lengths, seg_start=None, doc_ids=None) -> Dict[str, torch.Tensor]:
        if doc_ids is not None:
            seq, seq_lengths, seg_start, _ = split_documents(seq, seq_lengths, seg_start, doc_ids)
        hidden = self.decoder.blocks[0].mlp.hidden if self.n_layers else None
        return token_lm_flops(seq_lengths.cpu(), self.d_model, self.n_layers, self.vocab_size, hidden)
