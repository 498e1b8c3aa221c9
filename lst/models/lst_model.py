"""LSTModel: the Latent Speech-Text Transformer (arXiv 2510.06195), BLT-style.

Every position of the sequence (text token, marker <t>/<s>, <sos/eos>, speech unit) goes
through the local models; the global transformer runs over patches:

  patches         every non-unit token is a 1-token patch; each speech span (maximal run
                  of units) is cut by the patcher (lst/patching.py; `<s>` is its own patch)
  local encoder   ONE embedding table (V x local_d) shared by text and units ->
                  causal sliding-window layers over all tokens (RoPE on token positions)
  patch encoder   per patch: max-pool of its token states -> Linear to k = patch_vectors
                  queries of width local_d -> cross-attention to that patch's tokens only
                  (RMSNorm on q and kv, residual) -> the k vectors concatenated (k x local_d;
                  a Linear to d_model when k * local_d != d_model, identity otherwise)
  global          block-causal transformer over the patch vectors (RoPE on patch index)
  local decoder   the encoder's token states; before every layer a cross-attention to the
                  k vectors (Linear d_model -> k x local_d) of each of the `decoder_window`
                  most recent *complete* patches, then a sliding-window layer; ONE output
                  head (local_d -> V) predicts every next token, text or unit

Which global states position t may read (exact causality, decided from the prefix only):
the latest complete patch at t is t's own patch if it is complete at t (a 1-token patch,
or a patch closed *by length* at t: static's k-th unit, a capped word), otherwise the
previous patch. A patch that ends for any other reason (a span end, a new word, a silence
change) is only known to be complete once the next token is seen. Hence for text the model
is a token LM whose every step runs through encoder -> global -> decoder, and the units of
patch j+1 are predicted from the global states up to patch j plus the local causal context.

Aligned patching at inference: an optional boundary head (`boundary_head: true`) on the
local encoder state of each unit predicts whether it starts a new alignment segment; it is
trained with BCE (weight `boundary_loss_weight`) on aligned-mode sequences only, and decides
patch ends in aligned generation. Static sequences of a curriculum model get exactly the
static objective. The curriculum step counts optimizer updates (`on_optimizer_step`, called
by the trainer) and is a buffer, so it is saved in checkpoints and survives resume.

Packed batches: `doc_ids` (see lst/models/documents.py).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from espnet2.train.abs_espnet_model import AbsESPnetModel

from lst.models.ctc import adapt_speech_states, ctc_log_probs, make_speech_adapter, mix_ctc
from lst.models.documents import split_documents
from lst.models.flops import lst_flops
from lst.models.speech_mask import add_masked_share, hide_embeddings, training_speech_mask
from lst.models.token_lm import nll_stats, prompt_weights
from lst.nn import CrossAttention, RMSNorm, Transformer, autocast, init_weights
from lst.patching import Patcher


@dataclass
class Plan:
    """Index tensors that map a padded batch (B, T) onto patches. Flat indices: tokens
    b*T + t, patches b*G + j."""
    B: int
    T: int
    G: int  # max patches per sequence
    seq: torch.Tensor  # (B, T) ids
    patch_tok: torch.Tensor  # (P, Lp) flat token indices of each patch's tokens (0 on padding)
    patch_mask: torch.Tensor  # (P, Lp) True on real tokens
    patch_flat: torch.Tensor  # (P,) flat patch slot of each patch
    ctx: torch.Tensor  # (B, T) latest complete patch of each position (-1: none yet)
    src: torch.Tensor  # (N,) flat token positions that predict a target
    tgt: torch.Tensor  # (N,) target ids
    pos: torch.Tensor  # (N, 2) (b, t) of each target
    bd_src: torch.Tensor  # (Nb,) flat unit positions with a boundary label
    bd_tgt: torch.Tensor  # (Nb,) float 0/1: the unit starts an alignment segment
    counts: Dict[str, torch.Tensor]  # per sequence: tokens, patches, targets, units, dec_slots, boundary
    last: torch.Tensor  # (B,) flat position of each sequence's last token
    last_is_unit: torch.Tensor  # (B,) bool


def plan_sequence(ids: np.ndarray, flags: np.ndarray, unit_offset: int, patcher: Patcher, mode: str,
                  allow_fallback: bool = True) -> Dict:
    """One unpadded sequence -> patch starts, completeness and boundary labels (numpy)."""
    n = len(ids)
    is_unit = ids >= unit_offset
    pstart = ~is_unit  # every non-unit token is a 1-token patch ...
    complete = ~is_unit  # ... complete as soon as it is seen
    bd_pos, bd_tgt = [], []
    upos = np.flatnonzero(is_unit)
    if len(upos):
        edges = np.concatenate([[0], np.flatnonzero(np.diff(upos) != 1) + 1, [len(upos)]])
        for a, e in zip(edges[:-1], edges[1:]):
            pos = upos[a:e]
            p = patcher(ids[pos] - unit_offset, flags[pos], mode, allow_fallback)
            lens = np.asarray(p.lengths, dtype=np.int64)
            ends = np.cumsum(lens) - 1
            pstart[pos[ends - lens + 1]] = True
            complete[pos[ends[np.asarray(p.forced, dtype=bool)]]] = True
            if p.aligned and e - a > 1:
                bd_pos.append(pos[1:])
                bd_tgt.append((flags[pos[1:]] != 0).astype(np.int64))
    patch_id = np.cumsum(pstart) - 1  # (n,)
    ctx = np.where(complete, patch_id, patch_id - 1)
    starts = np.flatnonzero(pstart)
    return dict(n=n, P=len(starts), starts=starts, plen=np.diff(np.append(starts, n)), ctx=ctx,
                n_units=int(is_unit.sum()),
                bd_pos=np.concatenate(bd_pos) if bd_pos else np.zeros(0, np.int64),
                bd_tgt=np.concatenate(bd_tgt) if bd_tgt else np.zeros(0, np.int64),
                last_is_unit=bool(is_unit[-1]))


def build_plan(seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor], unit_offset: int,
               patcher: Patcher, modes: Sequence[str], allow_fallback: bool = True, decoder_window: int = 512,
               boundary_labels: bool = False) -> Plan:
    """Numpy bookkeeping per sequence (the patcher is called once per speech span), then one
    set of index tensors for the whole batch."""
    device = seq.device
    lens = seq_lengths.detach().cpu().numpy()
    T = int(lens.max())
    seq = seq[:, :T]
    seq_np = seq.detach().cpu().numpy()
    seg_np = seg_start[:, :T].detach().cpu().numpy() if seg_start is not None else np.zeros_like(seq_np)
    B = seq_np.shape[0]
    per = [plan_sequence(seq_np[b, : int(lens[b])], seg_np[b, : int(lens[b])], unit_offset, patcher, modes[b],
                         allow_fallback) for b in range(B)]
    G = max(p["P"] for p in per)
    Lp = max(int(p["plen"].max()) for p in per)
    ctx = np.zeros((B, T), dtype=np.int64)
    cat = {k: [] for k in ["pt_start", "pt_len", "patch_flat", "src", "tgt", "pb", "pt", "bd_src", "bd_tgt"]}
    for b, p in enumerate(per):
        n = p["n"]
        ctx[b, :n] = p["ctx"]
        ctx[b, n:] = p["ctx"][-1]  # padding: keep ctx non-decreasing (outputs are discarded)
        cat["pt_start"].append(b * T + p["starts"])
        cat["pt_len"].append(p["plen"])
        cat["patch_flat"].append(b * G + np.arange(p["P"]))
        t = np.arange(n - 1)
        cat["src"].append(b * T + t)
        cat["tgt"].append(seq_np[b, 1:n])
        cat["pb"].append(np.full(n - 1, b))
        cat["pt"].append(t + 1)
        if boundary_labels:
            cat["bd_src"].append(b * T + p["bd_pos"])
            cat["bd_tgt"].append(p["bd_tgt"])
    c = {k: np.concatenate(v).astype(np.int64) if v else np.zeros(0, np.int64) for k, v in cat.items()}
    ar = np.arange(Lp)
    patch_mask = ar[None, :] < c["pt_len"][:, None]
    patch_tok = np.where(patch_mask, c["pt_start"][:, None] + ar[None, :], 0)

    def t_(x, dtype=torch.long):
        return torch.as_tensor(x, dtype=dtype, device=device)

    dec_slots = [float(np.minimum(decoder_window, p["ctx"] + 1).sum()) for p in per]
    counts = {"tokens": [p["n"] for p in per], "patches": [p["P"] for p in per], "targets": [p["n"] - 1 for p in per],
              "units": [p["n_units"] for p in per], "dec_slots": dec_slots,
              "boundary": [len(p["bd_pos"]) if boundary_labels else 0 for p in per]}
    counts = {k: torch.tensor(v, dtype=torch.float64) for k, v in counts.items()}
    return Plan(
        B=B, T=T, G=G, seq=seq, patch_tok=t_(patch_tok), patch_mask=t_(patch_mask, torch.bool),
        patch_flat=t_(c["patch_flat"]), ctx=t_(ctx), src=t_(c["src"]), tgt=t_(c["tgt"]),
        pos=t_(np.stack([c["pb"], c["pt"]], 1)), bd_src=t_(c["bd_src"]), bd_tgt=t_(c["bd_tgt"], torch.float32),
        counts=counts, last=t_([b * T + p["n"] - 1 for b, p in enumerate(per)]),
        last_is_unit=t_([p["last_is_unit"] for p in per], torch.bool),
    )


class PatchEncoder(nn.Module):
    """k patch vectors: max-pool of the patch's token states -> Linear to k queries of width
    local_d -> cross-attention to the patch's tokens (RMSNorm on q and kv, residual) ->
    concatenated (k * local_d) -> Linear to d_model if the widths differ (else identity)."""

    def __init__(self, local_d: int, d_model: int, n_heads: int, k: int, dropout: float = 0.0):
        super().__init__()
        self.k, self.local_d = k, local_d
        self.init_proj = nn.Linear(local_d, k * local_d, bias=False)
        self.norm_q, self.norm_kv = RMSNorm(local_d), RMSNorm(local_d)
        self.cross = CrossAttention(local_d, n_heads, local_d, dropout)
        self.out = nn.Linear(k * local_d, d_model, bias=False) if k * local_d != d_model else None

    def forward(self, h: torch.Tensor, patch_tok: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        # h: (N, dl) flat token states; patch_tok / patch_mask: (P, Lp) -> (P, d_model)
        P, Lp = patch_tok.shape
        hp = h[patch_tok]  # (P, Lp, dl)
        q0 = hp.masked_fill(~patch_mask[..., None], float("-inf")).amax(1)  # (P, dl)
        q = self.init_proj(q0).view(P, self.k, self.local_d)  # (P, k, dl)
        k, v = self.cross.project_kv(self.norm_kv(h)[None])  # (1, H, N, hd): kv once per token
        H, hd = k.shape[1], k.shape[3]
        idx = patch_tok.reshape(-1)
        k = k[0][:, idx].view(H, P, Lp, hd).transpose(0, 1)  # (P, H, Lp, hd)
        v = v[0][:, idx].view(H, P, Lp, hd).transpose(0, 1)
        q = q + self.cross(self.norm_q(q), mem_mask=patch_mask, kv=(k, v))
        z = q.reshape(P, self.k * self.local_d)
        return self.out(z) if self.out is not None else z

    def encode_one(self, hp: torch.Tensor) -> torch.Tensor:
        """One complete patch in decoding: hp (1, L, dl) -> (1, d_model)."""
        L = hp.shape[1]
        return self(hp[0], torch.arange(L, device=hp.device)[None], torch.ones(1, L, dtype=torch.bool,
                                                                              device=hp.device))


class LSTModel(AbsESPnetModel):
    def __init__(self, vocab_size: int, unit_offset: int, n_units: int,
                 d_model: int = 256, n_layers: int = 4, n_heads: int = 4,
                 local_d_model: Optional[int] = None, local_enc_layers: int = 1, local_dec_layers: int = 2,
                 local_heads: Optional[int] = None, window: int = 64, patch_vectors: int = 2,
                 decoder_window: int = 512, patching: str = "static", patch_size: int = 4,
                 max_patch_len: Optional[int] = None, silence_units: Optional[List[int]] = None,
                 curriculum_steps: Optional[List[int]] = None, curriculum_total_steps: Optional[int] = None,
                 curriculum_fractions: Sequence[float] = (1 / 3, 2 / 3), boundary_head: Optional[bool] = None,
                 boundary_loss_weight: float = 0.1, dropout: float = 0.0, max_len: int = 2048,
                 rope_theta: float = 10000.0, ffn_multiple_of: int = 256, init_std: Optional[float] = None,
                 tie_embeddings: bool = False, seed: int = 0, prompt_loss_weight: float = 1.0,
                 ctc_weight: float = 0.0, ctc_adapter_layers: int = 0, speech_masks: int = 0,
                 speech_mask_width: int = 10, bf16: bool = False):
        super().__init__()
        if patch_vectors < 1 or decoder_window < 1:
            raise ValueError("patch_vectors and decoder_window must be >= 1")
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        # < 1 for downstream fine-tuning (see token_lm.prompt_weights)
        self.prompt_loss_weight = prompt_loss_weight
        # > 0 for ASR fine-tuning: SpecAugment-style time masks on the speech prompt
        # (lst/models/speech_mask.py), in training only
        self.speech_masks, self.speech_mask_width = speech_masks, speech_mask_width
        self.vocab_size, self.unit_offset, self.n_units = vocab_size, unit_offset, n_units
        self.d_model, self.n_layers = d_model, n_layers
        self.bf16 = bf16  # bf16 autocast of the batched forward (weights and loss stay fp32)
        k = patch_vectors
        dl = local_d_model or (d_model // k if d_model % k == 0 else d_model // 2)
        lh = local_heads or max(1, n_heads // 2)
        self.local_d, self.enc_layers, self.dec_layers, self.window = dl, local_enc_layers, local_dec_layers, window
        self.patch_vectors, self.decoder_window, self.seed = k, decoder_window, seed
        self.patcher = Patcher(patching, patch_size, max_patch_len, silence_units, curriculum_steps,
                               curriculum_total_steps, curriculum_fractions)
        # the boundary head serves aligned generation only: default on for aligned patching
        self.use_boundary_head = (patching == "aligned") if boundary_head is None else bool(boundary_head)
        self.boundary_loss_weight = boundary_loss_weight if self.use_boundary_head else 0.0
        self.drop = nn.Dropout(dropout)
        stack = dict(max_len=max_len, dropout=dropout, rope_theta=rope_theta, ffn_multiple_of=ffn_multiple_of)
        # local encoder: one embedding table for every token
        self.embed = nn.Embedding(vocab_size, dl)
        self.local_enc = Transformer(dl, local_enc_layers, lh, window=window, **stack)
        self.patch_enc = PatchEncoder(dl, d_model, lh, k, dropout)
        self.boundary_head = nn.Linear(dl, 1) if self.use_boundary_head else None
        # global transformer over patches
        self.glob = Transformer(d_model, n_layers, n_heads, **stack)
        # local decoder: each global state -> k vectors of width dl; one head for every token
        self.dec_proj = nn.Linear(d_model, k * dl, bias=False)
        self.local_dec = Transformer(dl, local_dec_layers, lh, window=window, cross_dim=dl, **stack)
        self.head = nn.Linear(dl, vocab_size, bias=False)
        # > 0 for ASR fine-tuning: a CTC head on the local decoder's states of the speech
        # prompt (lst/models/ctc.py); outputs <blank> + the text ids
        self.ctc_weight = ctc_weight
        self.ctc_head = nn.Linear(dl, unit_offset) if ctc_weight > 0 else None
        # > 0 layers: a bidirectional adapter between the speech states and the CTC head (ctc.py)
        self.ctc_adapter = make_speech_adapter(dl, ctc_adapter_layers, dropout) if ctc_weight > 0 else None
        init_weights(self, init_std)
        if tie_embeddings:
            self.head.weight = self.embed.weight
        # optimizer updates so far (the curriculum's clock); saved with the model, so a resumed
        # run continues the schedule. Advanced by on_optimizer_step, not by forward.
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self._micro = 0  # forward calls since the last update (distinct draws under accum_grad)

    # ---- schedule -----------------------------------------------------------------------
    def on_optimizer_step(self) -> None:
        """Called by the trainer after every optimizer update (lst.train.trainer)."""
        self.step += 1
        self._micro = 0

    def modes(self, batch_size: int) -> List[str]:
        rng = np.random.default_rng([self.seed, int(self.step), self._micro])
        return [self.patcher.resolve(int(self.step), self.training, rng) for _ in range(batch_size)]

    def plan(self, seq, seq_lengths, seg_start, modes=None, allow_fallback=True) -> Plan:
        modes = modes or self.modes(seq.shape[0])
        return build_plan(seq, seq_lengths, seg_start, self.unit_offset, self.patcher, modes, allow_fallback,
                          self.decoder_window, boundary_labels=self.use_boundary_head)

    # ---- core ---------------------------------------------------------------------------
    def encode(self, seq: torch.Tensor, hidden: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, dl) local encoder states; hidden (B, T) bool: embeddings zeroed."""
        return self.local_enc(self.drop(hide_embeddings(self.embed(seq), hidden)))

    def dec_memory(self, g: torch.Tensor) -> torch.Tensor:
        """Global states (B, G, d) -> decoder memory (B, G * k, dl): k vectors per state."""
        B, G, _ = g.shape
        return self.dec_proj(g).view(B, G * self.patch_vectors, self.local_d)

    def slot_range(self, ctx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Latest complete patch (B, T) -> visible decoder memory slots [lo, hi)."""
        k = self.patch_vectors
        return (ctx - self.decoder_window + 1).clamp(min=0) * k, (ctx + 1).clamp(min=0) * k

    def run(self, plan: Plan, hidden: Optional[torch.Tensor] = None):
        """-> local decoder states (B*T, dl), local encoder states (B*T, dl), global states (B, G, d).
        hidden: (B, T) bool, positions whose embeddings are zeroed (training_speech_mask)."""
        B, T, G, dl = plan.B, plan.T, plan.G, self.local_d
        h = self.encode(plan.seq, hidden)  # (B, T, dl)
        hf = h.reshape(B * T, dl)
        z = self.patch_enc(hf, plan.patch_tok, plan.patch_mask)  # (P, d)
        x = h.new_zeros(B * G, self.d_model).index_copy(0, plan.patch_flat, z.to(h.dtype))
        g = self.glob(self.drop(x.view(B, G, self.d_model)))  # (B, G, d)
        lo, hi = self.slot_range(plan.ctx)
        dec = self.local_dec(h, mem=self.dec_memory(g), mem_lo=lo, mem_hi=hi)  # (B, T, dl)
        return dec.reshape(B * T, dl), hf, g

    def _targets(self, plan: Plan, hidden: Optional[torch.Tensor] = None):
        with autocast(self.bf16, plan.seq.device):
            dec, hf, _ = self.run(plan, hidden)
            logits = self.head(dec[plan.src])  # (N, V)
            bd_logits = self.boundary_head(hf[plan.bd_src]).squeeze(-1) if self.use_boundary_head else None
        logits = logits.float()
        logp = -F.cross_entropy(logits, plan.tgt, reduction="none")
        return logp, logits, None if bd_logits is None else bd_logits.float(), dec

    # ---- ESPnet interface ---------------------------------------------------------------
    def forward(self, seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor] = None,
                doc_ids: Optional[torch.Tensor] = None, **kwargs) -> Tuple[torch.Tensor, Dict, torch.Tensor]:
        batch_size = seq.shape[0]
        if doc_ids is not None:
            seq, seq_lengths, seg_start, _ = split_documents(seq, seq_lengths, seg_start, doc_ids)
        seq = seq[:, : int(seq_lengths.max())]
        if seg_start is not None:
            seg_start = seg_start[:, : seq.shape[1]]
        modes = self.modes(seq.shape[0])
        if self.training:
            self._micro += 1
        plan = self.plan(seq, seq_lengths, seg_start, modes)
        hidden = training_speech_mask(self, plan.seq, seq_lengths)  # (B, T) or None
        logp, logits, bd_logits, dec = self._targets(plan, hidden)
        weight = prompt_weights(seq, seq_lengths, plan.pos, self.prompt_loss_weight)
        loss, stats = nll_stats(logp, logits.argmax(-1), plan.tgt, torch.ones_like(plan.tgt, dtype=torch.bool),
                                self.unit_offset, weight)
        loss = mix_ctc(self, loss, stats, dec.view(plan.B, plan.T, -1), plan.seq, seq_lengths)
        add_masked_share(stats, hidden, plan.seq, self.unit_offset)
        if self.boundary_loss_weight > 0 and bd_logits is not None and bd_logits.numel():
            # only aligned-mode spans carry boundary labels (plan_sequence)
            bd_loss = F.binary_cross_entropy_with_logits(bd_logits, plan.bd_tgt)
            stats["loss_boundary"] = bd_loss.detach()
            loss = loss + self.boundary_loss_weight * bd_loss
        for k, v in self._flops(plan).items():
            stats[f"gflops_{k}"] = (v.mean() / 1e9).float()
        stats["units_per_patch"] = (plan.counts["units"].sum()
                                    / (plan.counts["patches"].sum() - (plan.counts["tokens"] - plan.counts["units"])
                                       .sum()).clamp(min=1)).float()
        stats["frac_aligned"] = torch.tensor(float(np.mean([m == "aligned" for m in modes])))
        return loss, stats, torch.tensor(batch_size, device=seq.device)

    def collect_feats(self, seq: torch.Tensor, seq_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def token_logprobs(self, seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor] = None,
                       modes=None, allow_fallback: bool = True, doc_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T): log p(seq[b, t] | seq[b, :t]); 0 at t = 0 (and at each document's first
        token) and on padding. Uses the evaluation patching (curriculum -> static) unless
        `modes` is given (one per row, or per document with doc_ids)."""
        if doc_ids is not None:
            s2, l2, g2, split = split_documents(seq, seq_lengths, seg_start, doc_ids)
            return split.merge(self.token_logprobs(s2, l2, g2, modes, allow_fallback))
        plan = self.plan(seq, seq_lengths, seg_start, modes, allow_fallback)
        logp, _, _, _ = self._targets(plan)
        out = torch.zeros(seq.shape, dtype=logp.dtype, device=seq.device)
        out[plan.pos[:, 0], plan.pos[:, 1]] = logp
        return out

    @torch.no_grad()
    def ctc_logprobs(self, seq: torch.Tensor, seq_lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, C) CTC log-probabilities at every position (ctc_weight > 0),
        from the local decoder's states under the evaluation patching."""
        if self.ctc_head is None:
            raise ValueError("this model has no CTC head (fine-tune it with model_conf ctc_weight > 0)")
        if seq_lengths is None:
            seq_lengths = torch.full((seq.shape[0],), seq.shape[1], dtype=torch.long, device=seq.device)
        plan = self.plan(seq, seq_lengths, None)
        with autocast(self.bf16, plan.seq.device):
            dec, _, _ = self.run(plan)
        states = adapt_speech_states(self.ctc_adapter, dec.view(plan.B, plan.T, -1).float(), plan.seq >= self.unit_offset)
        return ctc_log_probs(self.ctc_head, states)

    @torch.no_grad()
    def next_logits(self, seq, seq_lengths, seg_start=None, modes=None, allow_fallback=True):
        """Logits (B, V) of the token after each (unpadded) sequence, and the boundary logit
        (B,) of its last token (0 where it is not a unit or there is no boundary head): the
        no-cache reference path of generation."""
        plan = self.plan(seq, seq_lengths, seg_start, modes, allow_fallback)
        with autocast(self.bf16, plan.seq.device):
            dec, hf, _ = self.run(plan)
            logits = self.head(dec[plan.last]).float()
            bd = torch.zeros(plan.B, dtype=logits.dtype, device=logits.device)
            if self.use_boundary_head:
                bd = torch.where(plan.last_is_unit, self.boundary_head(hf[plan.last]).squeeze(-1).float(), bd)
        return logits, bd

    def _flops(self, plan: Plan) -> Dict[str, torch.Tensor]:
        c = plan.counts
        return lst_flops(c["tokens"], c["patches"], c["targets"], c["dec_slots"], self.d_model, self.n_layers,
                         self.local_d, self.enc_layers, self.dec_layers, self.window, self.patch_vectors,
                         self.vocab_size, ffn_hidden=self.glob.blocks[0].mlp.hidden if self.n_layers else 0,
                         local_ffn_hidden=self._local_hidden(), n_boundary=c["boundary"])

    def _local_hidden(self) -> int:
        blocks = list(self.local_enc.blocks) + list(self.local_dec.blocks)
        return blocks[0].mlp.hidden if blocks else 0

    def flops_per_sequence(self, seq, seq_lengths, seg_start=None, doc_ids=None) -> Dict[str, torch.Tensor]:
        if doc_ids is not None:
            seq, seq_lengths, seg_start, _ = split_documents(seq, seq_lengths, seg_start, doc_ids)
        return self._flops(self.plan(seq, seq_lengths, seg_start))
