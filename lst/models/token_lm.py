"""TokenLM: the baseline. One decoder-only transformer over the joint speech-text
vocabulary; every text token and every speech unit is one autoregressive step."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from lst.compat import ensure_espnet_importable

ensure_espnet_importable()
from espnet2.train.abs_espnet_model import AbsESPnetModel  # noqa: E402

from lst.models.flops import token_lm_flops  # noqa: E402
from lst.nn import KVCache, Transformer, init_weights  # noqa: E402


def nll_stats(logp: torch.Tensor, pred: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
              unit_offset: int) -> Tuple[torch.Tensor, Dict]:
    """logp/pred/targets/valid: same shape (any), logp = log-prob of each target.
    Returns the mean NLL over valid targets and the stats dict (loss, loss_text,
    loss_speech, acc, acc_speech); a split with no targets gets None (ESPnet skips it)."""
    valid = valid.bool()
    is_unit = targets >= unit_offset
    n = valid.sum().clamp(min=1)
    loss = -(logp * valid).sum() / n

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


class TokenLM(AbsESPnetModel):
    def __init__(self, vocab_size: int, unit_offset: int, n_units: int, d_model: int = 256, n_layers: int = 4,
                 n_heads: int = 4, dropout: float = 0.0, max_len: int = 2048, rope_theta: float = 10000.0,
                 tie_embeddings: bool = True):
        super().__init__()
        self.vocab_size, self.unit_offset, self.n_units = vocab_size, unit_offset, n_units
        self.d_model, self.n_layers = d_model, n_layers
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.decoder = Transformer(d_model, n_layers, n_heads, max_len, dropout, rope_theta=rope_theta)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        init_weights(self)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    # ---- core -------------------------------------------------------------------------
    def logits(self, seq: torch.Tensor, cache: Optional[KVCache] = None) -> torch.Tensor:
        # seq: (B, L) -> (B, L, V); logits[:, t] predicts seq[:, t+1]
        return self.head(self.decoder(self.drop(self.embed(seq)), cache))

    def _target_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor):
        logits = self.logits(seq)[:, :-1]  # (B, T-1, V)
        targets = seq[:, 1:]  # (B, T-1)
        valid = torch.arange(1, seq.shape[1], device=seq.device)[None] < seq_lengths[:, None]
        logp = -F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
        return logp, logits, targets, valid

    # ---- ESPnet interface -------------------------------------------------------------
    def forward(self, seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor] = None,
                **kwargs) -> Tuple[torch.Tensor, Dict, torch.Tensor]:
        seq = seq[:, : int(seq_lengths.max())]
        logp, logits, targets, valid = self._target_logprobs(seq, seq_lengths)
        loss, stats = nll_stats(logp, logits.argmax(-1), targets, valid, self.unit_offset)
        flops = self.flops_per_sequence(seq, seq_lengths, seg_start)
        for k, v in flops.items():
            stats[f"gflops_{k}"] = (v.mean() / 1e9).detach().float()
        weight = torch.tensor(seq.shape[0], device=seq.device)
        return loss, stats, weight

    def collect_feats(self, seq: torch.Tensor, seq_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def token_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor,
                       seg_start: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T): log p(seq[b, t] | seq[b, :t]); 0 at t = 0 and on padding."""
        logp, _, _, valid = self._target_logprobs(seq, seq_lengths)
        out = torch.zeros(seq.shape, dtype=logp.dtype, device=seq.device)
        out[:, 1:] = logp.masked_fill(~valid, 0.0)
        return out

    def flops_per_sequence(self, seq, seq_lengths, seg_start=None) -> Dict[str, torch.Tensor]:
        return token_lm_flops(seq_lengths.cpu(), self.d_model, self.n_layers, self.vocab_size)
