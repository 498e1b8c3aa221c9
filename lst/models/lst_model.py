"""LSTModel: the Latent Speech-Text Transformer (arXiv 2510.06195), BLT-style.

Speech units are grouped into patches; text tokens, markers and <sos/eos> stay one
position each. Three modules:

  local encoder   unit embeddings -> causal sliding-window layers over the units of the
                  sequence -> per patch, a query (max-pool of the patch's unit states)
                  cross-attends to that patch's units only -> patch vector (-> d_model)
  global          causal transformer over the "items": token embeddings and patch vectors
  local decoder   sliding-window layers over the unit states, each layer first
                  cross-attending to the global output of the latest *complete* item

Which distribution predicts token x[t] (exactly one, chosen from the prefix alone, so the
model is a proper autoregressive distribution over the joint vocabulary):
  * x[t-1] is not a unit  -> the global head on x[t-1]'s own global output;
  * x[t-1] is a unit      -> the local decoder state of that unit (its head covers the whole
                             vocabulary, so the end of a speech span, e.g. <t> or <sos/eos>,
                             is predicted there too).
The latest complete item for unit i (patch j) is patch j itself when j was closed by length
at i (static: its k-th unit), otherwise item j-1. A patch that ends for any other reason
(a span end, a new word, a silence change) is only known to be complete once the next token
is seen, so conditioning on its global summary earlier would leak the future. Hence the
global output of patch j predicts the units of patch j+1, through the local decoder.

Aligned patching at inference: a boundary head on the local encoder state of each unit
(which has seen that unit) predicts whether it starts a new alignment segment; it is trained
with BCE on seg_start (weight `boundary_loss_weight`) and decides patch ends in generation.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from espnet2.train.abs_espnet_model import AbsESPnetModel  # noqa: E402

from lst.models.flops import lst_flops  # noqa: E402
from lst.models.token_lm import nll_stats, prompt_weights  # noqa: E402
from lst.nn import MLP, CrossAttention, RMSNorm, Transformer, init_weights  # noqa: E402
from lst.patching import Patcher  # noqa: E402


@dataclass
class Plan:
    """Index tensors that map a padded batch onto items, patches and unit slots.
    Flat indices: items b*G + j, units b*U + i."""
    B: int
    G: int  # max items per sequence
    U: int  # max units per sequence (>= 1)
    units: torch.Tensor  # (B, U) unit ids (joint id - unit_offset), 0 on padding
    tok_flat: torch.Tensor  # (Nt,) item slots of non-unit tokens
    tok_ids: torch.Tensor  # (Nt,) their joint ids
    patch_flat: torch.Tensor  # (P,) item slots of patches
    patch_units: torch.Tensor  # (P, Lp) flat unit indices of each patch's units
    patch_mask: torch.Tensor  # (P, Lp) True on real units
    ctx_flat: torch.Tensor  # (B*U,) item slot whose global output each unit slot reads
    g_src: torch.Tensor  # (Ng,) item slots predicting a token with the global head
    g_tgt: torch.Tensor  # (Ng,) target joint ids
    g_pos: torch.Tensor  # (Ng, 2) (b, t) of each target
    l_src: torch.Tensor  # (Nl,) unit slots predicting a token with the local head
    l_tgt: torch.Tensor
    l_pos: torch.Tensor  # (Nl, 2)
    bd_src: torch.Tensor  # (Nb,) unit slots with a boundary label
    bd_tgt: torch.Tensor  # (Nb,) float 0/1: unit starts an alignment segment
    counts: Dict[str, torch.Tensor]  # per sequence: items, units, patches, g_targets, l_targets
    last_is_unit: torch.Tensor  # (B,) bool: is the last token of each sequence a unit
    last_src: torch.Tensor  # (B,) its item slot (if not a unit) or unit slot (if a unit)


def build_plan(seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor], unit_offset: int,
               patcher: Patcher, modes: Sequence[str], allow_fallback: bool = True,
               boundary_labels: bool = False) -> Plan:
    """Numpy bookkeeping per sequence (cheap, vectorised within a sequence; the patcher is
    called once per speech span), then one set of index tensors for the whole batch."""
    device = seq.device
    seq_np = seq.detach().cpu().numpy()
    seg_np = seg_start.detach().cpu().numpy() if seg_start is not None else np.zeros_like(seq_np)
    lens = seq_lengths.detach().cpu().numpy()
    B = seq_np.shape[0]
    per = []
    for b in range(B):
        n = int(lens[b])
        ids, flags = seq_np[b, :n], seg_np[b, :n]
        is_unit = ids >= unit_offset
        upos = np.flatnonzero(is_unit)  # (Ub,) positions of units
        Ub = len(upos)
        plen, forced, bd_u, bd_t = [], [], [], []
        if Ub:
            span_edges = np.concatenate([[0], np.flatnonzero(np.diff(upos) != 1) + 1, [Ub]])
            for a, e in zip(span_edges[:-1], span_edges[1:]):
                su, sf = ids[upos[a:e]] - unit_offset, flags[upos[a:e]].copy()
                sf[0] = 1  # a span always starts a segment
                p = patcher(su, sf, modes[b], allow_fallback)
                plen += p.lengths
                forced += p.forced
                if boundary_labels and e - a > 1 and sf[1:].any():
                    bd_u.append(np.arange(a + 1, e))
                    bd_t.append(sf[1:])
        plen = np.asarray(plen, dtype=np.int64)
        forced = np.asarray(forced, dtype=bool)
        pstart = np.cumsum(plen) - plen  # (Pb,) first unit index of each patch
        is_pstart = np.zeros(Ub, dtype=bool)
        is_pstart[pstart] = True
        is_pend = np.zeros(Ub, dtype=bool)
        is_pend[pstart + plen - 1] = True
        item_start = ~is_unit
        item_start[upos[is_pstart]] = True
        item_of_pos = np.cumsum(item_start) - 1  # (n,)
        unit_item = item_of_pos[upos]
        patch_of_unit = np.cumsum(is_pstart) - 1
        forced_here = is_pend & forced[patch_of_unit] if Ub else np.zeros(0, dtype=bool)
        ctx = unit_item - 1 + forced_here  # latest complete item (see module docstring)
        tpos = np.flatnonzero(~is_unit)
        g_src_pos = tpos[tpos < n - 1]
        l_mask = upos < n - 1
        per.append(dict(
            n=n, G=int(item_of_pos[-1]) + 1, Ub=Ub, units=ids[upos] - unit_offset,
            tok_item=item_of_pos[tpos], tok_ids=ids[tpos], patch_item=unit_item[pstart], pstart=pstart, plen=plen,
            ctx=ctx, g_src=item_of_pos[g_src_pos], g_tgt=ids[g_src_pos + 1], g_pos=g_src_pos + 1,
            l_src=np.flatnonzero(l_mask), l_tgt=ids[upos[l_mask] + 1], l_pos=upos[l_mask] + 1,
            bd_src=np.concatenate(bd_u) if bd_u else np.zeros(0, np.int64),
            bd_tgt=np.concatenate(bd_t) if bd_t else np.zeros(0, np.int64),
            last_is_unit=bool(is_unit[-1]), last_item=int(item_of_pos[-1]), last_unit=Ub - 1,
        ))
    G = max(p["G"] for p in per)
    U = max(1, max(p["Ub"] for p in per))
    Lp = max([1] + [int(p["plen"].max()) for p in per if len(p["plen"])])
    units = np.zeros((B, U), dtype=np.int64)
    ctx = np.zeros((B, U), dtype=np.int64)
    cat = {k: [] for k in ["tok_flat", "tok_ids", "patch_flat", "pu_start", "pu_len", "g_src", "g_tgt", "g_b",
                           "g_t", "l_src", "l_tgt", "l_b", "l_t", "bd_src", "bd_tgt"]}
    for b, p in enumerate(per):
        units[b, : p["Ub"]] = p["units"]
        ctx[b, : p["Ub"]] = b * G + p["ctx"]
        cat["tok_flat"].append(b * G + p["tok_item"])
        cat["tok_ids"].append(p["tok_ids"])
        cat["patch_flat"].append(b * G + p["patch_item"])
        cat["pu_start"].append(b * U + p["pstart"])
        cat["pu_len"].append(p["plen"])
        cat["g_src"].append(b * G + p["g_src"])
        cat["g_tgt"].append(p["g_tgt"])
        cat["g_b"].append(np.full(len(p["g_src"]), b))
        cat["g_t"].append(p["g_pos"])
        cat["l_src"].append(b * U + p["l_src"])
        cat["l_tgt"].append(p["l_tgt"])
        cat["l_b"].append(np.full(len(p["l_src"]), b))
        cat["l_t"].append(p["l_pos"])
        cat["bd_src"].append(b * U + p["bd_src"])
        cat["bd_tgt"].append(p["bd_tgt"])
    c = {k: np.concatenate(v).astype(np.int64) if v else np.zeros(0, np.int64) for k, v in cat.items()}
    ar = np.arange(Lp)
    patch_units = c["pu_start"][:, None] + ar[None, :]
    patch_mask = ar[None, :] < c["pu_len"][:, None]
    patch_units = np.where(patch_mask, patch_units, 0)

    def t(x, dtype=torch.long):
        return torch.as_tensor(x, dtype=dtype, device=device)

    counts = {k: torch.tensor([p[v] if isinstance(p[v], int) else len(p[v]) for p in per], dtype=torch.float64)
              for k, v in [("items", "G"), ("units", "Ub"), ("patches", "plen"), ("g_targets", "g_src"),
                           ("l_targets", "l_src")]}
    return Plan(
        B=B, G=G, U=U, units=t(units), tok_flat=t(c["tok_flat"]), tok_ids=t(c["tok_ids"]),
        patch_flat=t(c["patch_flat"]), patch_units=t(patch_units), patch_mask=t(patch_mask, torch.bool),
        ctx_flat=t(ctx.reshape(-1)), g_src=t(c["g_src"]), g_tgt=t(c["g_tgt"]),
        g_pos=t(np.stack([c["g_b"], c["g_t"]], 1)), l_src=t(c["l_src"]), l_tgt=t(c["l_tgt"]),
        l_pos=t(np.stack([c["l_b"], c["l_t"]], 1)), bd_src=t(c["bd_src"]), bd_tgt=t(c["bd_tgt"], torch.float32),
        counts=counts,
        last_is_unit=t([p["last_is_unit"] for p in per], torch.bool),
        last_src=t([b * U + p["last_unit"] if p["last_is_unit"] else b * G + p["last_item"] for b, p in enumerate(per)]),
    )


class PatchEncoder(nn.Module):
    """Patch vector = query (max-pool of the patch's unit states) refined by cross-attention
    to those units only, then an MLP, then projected to the global width."""

    def __init__(self, local_d: int, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp, self.norm_out = (RMSNorm(local_d) for _ in range(4))
        self.cross = CrossAttention(local_d, n_heads, local_d, dropout)
        self.mlp = MLP(local_d, dropout=dropout)
        self.out = nn.Linear(local_d, d_model, bias=False)

    def forward(self, hp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # hp: (P, Lp, dl) unit states per patch; mask: (P, Lp) -> (P, d_model)
        q = hp.masked_fill(~mask[..., None], float("-inf")).amax(1)  # (P, dl)
        q = q + self.cross(self.norm_q(q)[:, None], self.norm_kv(hp), mask)[:, 0]
        q = q + self.mlp(self.norm_mlp(q))
        return self.out(self.norm_out(q))


class LSTModel(AbsESPnetModel):
    def __init__(self, vocab_size: int, unit_offset: int, n_units: int,
                 d_model: int = 256, n_layers: int = 4, n_heads: int = 4,
                 local_d_model: Optional[int] = None, local_enc_layers: int = 1, local_dec_layers: int = 2,
                 local_heads: Optional[int] = None, window: int = 64, cross_slots: int = 2,
                 patching: str = "static", patch_size: int = 4, max_patch_len: int = 16,
                 silence_units: Optional[List[int]] = None, curriculum_steps: Optional[List[int]] = None,
                 curriculum_total_steps: Optional[int] = None, curriculum_fractions: Sequence[float] = (1 / 3, 2 / 3),
                 boundary_loss_weight: float = 0.1, dropout: float = 0.0, max_len: int = 2048,
                 rope_theta: float = 10000.0, tie_embeddings: bool = True, seed: int = 0,
                 prompt_loss_weight: float = 1.0):
        super().__init__()
        # < 1 for downstream fine-tuning (see token_lm.prompt_weights)
        self.prompt_loss_weight = prompt_loss_weight
        self.vocab_size, self.unit_offset, self.n_units = vocab_size, unit_offset, n_units
        self.d_model, self.n_layers = d_model, n_layers
        dl = local_d_model or d_model // 2
        lh = local_heads or max(1, n_heads // 2)
        self.local_d, self.enc_layers, self.dec_layers, self.window = dl, local_enc_layers, local_dec_layers, window
        self.cross_slots, self.seed = cross_slots, seed
        self.patcher = Patcher(patching, patch_size, max_patch_len, silence_units, curriculum_steps,
                               curriculum_total_steps, curriculum_fractions)
        self.boundary_loss_weight = boundary_loss_weight if patching in ("aligned", "curriculum") else 0.0
        self.drop = nn.Dropout(dropout)
        # local encoder
        self.unit_embed = nn.Embedding(n_units, dl)
        self.local_enc = Transformer(dl, local_enc_layers, lh, max_len, dropout, window, rope_theta=rope_theta)
        self.patch_enc = PatchEncoder(dl, d_model, lh, dropout)
        self.boundary_head = nn.Linear(dl, 1)
        # global
        self.token_embed = nn.Embedding(vocab_size, d_model)
        self.glob = Transformer(d_model, n_layers, n_heads, max_len, dropout, rope_theta=rope_theta)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        # local decoder: each global output is split into `cross_slots` vectors of width dl
        self.ctx_proj = nn.Linear(d_model, cross_slots * dl, bias=False)
        self.local_dec = Transformer(dl, local_dec_layers, lh, max_len, dropout, window, cross_dim=dl,
                                     rope_theta=rope_theta)
        self.local_head = nn.Linear(dl, vocab_size, bias=False)
        init_weights(self)
        if tie_embeddings:
            self.head.weight = self.token_embed.weight
        # training step, for the curriculum; saved with the model so a resumed run continues it
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # ---- planning -----------------------------------------------------------------------
    def modes(self, batch_size: int) -> List[str]:
        rng = np.random.default_rng([self.seed, int(self.step)])
        return [self.patcher.resolve(int(self.step), self.training, rng) for _ in range(batch_size)]

    def plan(self, seq, seq_lengths, seg_start, modes=None, allow_fallback=True) -> Plan:
        modes = modes or self.modes(seq.shape[0])
        return build_plan(seq, seq_lengths, seg_start, self.unit_offset, self.patcher, modes, allow_fallback,
                          boundary_labels=self.boundary_loss_weight > 0)

    # ---- core ---------------------------------------------------------------------------
    def run(self, plan: Plan):
        """-> global outputs (B*G, d), local decoder states (B*U, dl), local encoder states (B*U, dl)."""
        B, G, U, dl = plan.B, plan.G, plan.U, self.local_d
        h = self.local_enc(self.drop(self.unit_embed(plan.units)))  # (B, U, dl) causal unit states
        hf = h.reshape(B * U, dl)
        pv = self.patch_enc(hf[plan.patch_units], plan.patch_mask)  # (P, d)
        x = h.new_zeros(B * G, self.d_model)
        x = x.index_copy(0, plan.tok_flat, self.token_embed(plan.tok_ids))
        x = x.index_copy(0, plan.patch_flat, pv.to(x.dtype))  # (B*G, d) the mixed item sequence
        g = self.glob(self.drop(x.view(B, G, self.d_model))).reshape(B * G, self.d_model)
        mem = self.ctx_proj(g)[plan.ctx_flat].view(B * U, self.cross_slots, dl)  # (B*U, r, dl)
        dec = self.local_dec(h, mem=mem).reshape(B * U, dl)
        return g, dec, hf

    def _targets(self, plan: Plan):
        g, dec, hf = self.run(plan)
        g_logits = self.head(g[plan.g_src])  # (Ng, V)
        l_logits = self.local_head(dec[plan.l_src])  # (Nl, V)
        bd_logits = self.boundary_head(hf[plan.bd_src]).squeeze(-1)  # (Nb,)
        logits = torch.cat([g_logits, l_logits])
        targets = torch.cat([plan.g_tgt, plan.l_tgt])
        logp = -F.cross_entropy(logits, targets, reduction="none")
        return logp, logits, targets, torch.cat([plan.g_pos, plan.l_pos]), bd_logits

    # ---- ESPnet interface ---------------------------------------------------------------
    def forward(self, seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor] = None,
                **kwargs) -> Tuple[torch.Tensor, Dict, torch.Tensor]:
        seq = seq[:, : int(seq_lengths.max())]
        if seg_start is not None:
            seg_start = seg_start[:, : seq.shape[1]]
        modes = self.modes(seq.shape[0])
        plan = self.plan(seq, seq_lengths, seg_start, modes)
        logp, logits, targets, pos, bd_logits = self._targets(plan)
        weight = prompt_weights(seq, seq_lengths, pos, self.prompt_loss_weight)
        loss, stats = nll_stats(logp, logits.argmax(-1), targets, torch.ones_like(targets, dtype=torch.bool),
                                self.unit_offset, weight)
        if self.boundary_loss_weight > 0 and bd_logits.numel():
            bd_loss = F.binary_cross_entropy_with_logits(bd_logits, plan.bd_tgt)
            stats["loss_boundary"] = bd_loss.detach()
            loss = loss + self.boundary_loss_weight * bd_loss
        for k, v in self._flops(plan).items():
            stats[f"gflops_{k}"] = (v.mean() / 1e9).float()
        stats["units_per_patch"] = (plan.counts["units"].sum() / plan.counts["patches"].sum().clamp(min=1)).float()
        stats["frac_aligned"] = torch.tensor(float(np.mean([m == "aligned" for m in modes])))
        if self.training:
            self.step += 1
        weight = torch.tensor(seq.shape[0], device=seq.device)
        return loss, stats, weight

    def collect_feats(self, seq: torch.Tensor, seq_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def token_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor,
                       seg_start: Optional[torch.Tensor] = None, modes=None, allow_fallback: bool = True) -> torch.Tensor:
        """(B, T): log p(seq[b, t] | seq[b, :t]); 0 at t = 0 and on padding. Uses the
        evaluation patching (curriculum -> static) unless `modes` is given."""
        plan = self.plan(seq, seq_lengths, seg_start, modes, allow_fallback)
        logp, _, _, pos, _ = self._targets(plan)
        out = torch.zeros(seq.shape, dtype=logp.dtype, device=seq.device)
        out[pos[:, 0], pos[:, 1]] = logp
        return out

    @torch.no_grad()
    def next_logits(self, seq, seq_lengths, seg_start=None, modes=None, allow_fallback=True):
        """Logits (B, V) of the token after each (unpadded) sequence, and the boundary logit
        (B,) of its last unit (0 where the last token is not a unit): the no-cache reference
        path of generation."""
        plan = self.plan(seq, seq_lengths, seg_start, modes, allow_fallback)
        g, dec, hf = self.run(plan)
        B = seq.shape[0]
        logits = torch.empty(B, self.vocab_size, dtype=g.dtype, device=g.device)
        bd = torch.zeros(B, dtype=g.dtype, device=g.device)
        u, src = plan.last_is_unit, plan.last_src
        if bool((~u).any()):
            logits[~u] = self.head(g[src[~u]])
        if bool(u.any()):
            logits[u] = self.local_head(dec[src[u]])
            bd[u] = self.boundary_head(hf[src[u]]).squeeze(-1)
        return logits, bd

    def _flops(self, plan: Plan) -> Dict[str, torch.Tensor]:
        c = plan.counts
        return lst_flops(c["items"], c["units"], c["patches"], c["g_targets"], c["l_targets"], self.d_model,
                         self.n_layers, self.local_d, self.enc_layers, self.dec_layers, self.window,
                         self.cross_slots, self.vocab_size)

    def flops_per_sequence(self, seq, seq_lengths, seg_start=None) -> Dict[str, torch.Tensor]:
        return self._flops(self.plan(seq, seq_lengths, seg_start))
