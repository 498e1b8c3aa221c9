"""Autoregressive generation for both models (greedy or sampling), with or without a KV cache.

TokenLM: one global step per token.
LSTModel: one global step per *patch* (and per text token / marker); units are decoded one
at a time by the local decoder, which reads the global output of the latest complete item
(exactly as in training, see lst_model.py). The end of a patch at inference follows the
patcher's rule, decided incrementally by `Patcher.starts_new_patch` / `Patcher.cap`:
  static    every k units;
  silence   a change between silence / non-silence units, or the length caps;
  aligned   the learnt boundary head: after a unit is generated, its local-encoder state
            (which has seen it) gives p(unit starts a new word); > 0.5 (greedy) or a
            Bernoulli draw (sampling) closes the open patch. Words longer than
            max_patch_len are cut by length, as in training. The decision is recorded
            in the returned seg_start, so the output can be re-scored exactly.
The uncached path recomputes the full forward at every step and is the reference the
cached path is tested against.
"""
from typing import Dict, List, Optional

import torch

from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM
from lst.nn.step import patch_step, stack_cross_kv, stack_step
from lst.vocab import BLANK_ID, SOS_EOS_ID


def pick(logits: torch.Tensor, greedy: bool, temperature: float = 1.0, top_k: Optional[int] = None,
         generator: Optional[torch.Generator] = None) -> int:
    """logits (V,) -> a token id; <blank> (padding) is never produced."""
    logits = logits.float().clone()
    logits[BLANK_ID] = float("-inf")
    if greedy:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))


class TokenStream:
    """Incremental TokenLM decoding with a KV cache."""

    def __init__(self, model: TokenLM):
        self.model, self.cache = model, model.decoder.new_cache()
        self.global_steps = 0

    def feed(self, ids: List[int]) -> torch.Tensor:
        """Append tokens (one forward over all of them); -> logits (V,) of the next token.
        One token in eval mode goes through `stack_step`, the same fast path LSTStream's
        global steps use, so decoding-speed comparisons of the two models stay fair."""
        m = self.model
        self.global_steps += len(ids)
        if len(ids) == 1 and not m.training:
            h = stack_step(m.decoder, m.embed.weight[ids[0]].view(1, 1, -1), self.cache)  # (1, 1, d)
            return m.head(h)[0, 0]
        x = torch.tensor([ids], device=m.embed.weight.device)
        return m.logits(x, self.cache)[0, -1]


class LSTStream:
    """Incremental LST decoding: KV caches in the global model and both local stacks.
    In eval mode the three stacks run through `lst.nn.step.stack_step` (the same values as
    their forward, less per-step overhead) and the embeddings are read as weight rows, so
    forward hooks on those submodules are not called; the heads are still called as modules."""

    def __init__(self, model: LSTModel, mode: str):
        self.m, self.mode = model, mode
        self.glob_cache = model.glob.new_cache()
        self.enc_cache = model.local_enc.new_cache()
        self.dec_cache = model.local_dec.new_cache()
        self.last_g: Optional[torch.Tensor] = None  # (1, 1, d) output of the latest complete item
        self.open_units: List[int] = []
        self.open_h: List[torch.Tensor] = []  # (1, 1, dl) each
        self.prev_was_unit = False
        self.global_steps = 0
        # local-decoder cross-attention keys/values of last_g: computed once per global step
        # (patch / token), not once per unit; valid while _dec_kv_of is last_g
        self._dec_kv = None
        self._dec_kv_of: Optional[torch.Tensor] = None

    def _dec_memory_kv(self):
        if self._dec_kv_of is not self.last_g:
            m = self.m
            mem = m.ctx_proj(self.last_g).view(1, m.cross_slots, m.local_d)  # (1, r, dl)
            self._dec_kv, self._dec_kv_of = stack_cross_kv(m.local_dec, mem), self.last_g
        return self._dec_kv

    def _global_step(self, x: torch.Tensor):  # x: (1, 1, d)
        self.last_g = stack_step(self.m.glob, x, self.glob_cache)  # = self.m.glob(x, cache=self.glob_cache)
        self.global_steps += 1

    def _close_patch(self):
        hp = torch.cat(self.open_h, dim=1)  # (1, L, dl)
        pv = patch_step(self.m.patch_enc, hp)  # (1, d)
        self._global_step(pv[:, None])
        self.open_units, self.open_h = [], []

    def feed(self, token: int, seg_flag: Optional[int] = None, greedy: bool = True,
             generator: Optional[torch.Generator] = None):
        """Append one token. seg_flag: its alignment flag (aligned mode); None = let the
        boundary head decide. -> (logits (V,) of the next token, the flag used)."""
        m = self.m
        if token < m.unit_offset:
            if self.open_units:  # a non-unit ends the span: the open patch is complete
                self._close_patch()
            self._global_step(m.token_embed.weight[token].view(1, 1, -1))  # = m.token_embed(tensor([[token]]))
            self.prev_was_unit = False
            return m.head(self.last_g)[0, 0], 0
        u = token - m.unit_offset
        # unit_embed row u as a (1, 1, dl) view: the embedding lookup without an index tensor
        h = stack_step(m.local_enc, m.unit_embed.weight[u].view(1, 1, -1), self.enc_cache)  # (1, 1, dl)
        if not self.prev_was_unit:
            flag = 1  # a span always starts a segment
        elif self.mode != "aligned":
            flag = int(seg_flag or 0)
        elif seg_flag is not None:
            flag = int(seg_flag)
        else:
            p = torch.sigmoid(m.boundary_head(h)[0, 0, 0])
            flag = int(p > 0.5) if greedy else int(torch.rand((), generator=generator) < p)
        if m.patcher.starts_new_patch(self.mode, self.open_units, u, flag) and self.open_units:
            self._close_patch()
        self.open_units.append(u)
        self.open_h.append(h)
        if len(self.open_units) >= m.patcher.cap(self.mode, self.open_units[0]):
            self._close_patch()  # closed by length: already complete, the decoder may read it
        if m.training:  # dropout active: the module path
            mem = m.ctx_proj(self.last_g).view(1, m.cross_slots, m.local_d)  # (1, r, dl)
            dec = m.local_dec(h, cache=self.dec_cache, mem=mem)
        else:  # same values; the cross-attention K/V of last_g computed once per global step
            dec = stack_step(m.local_dec, h, self.dec_cache, self._dec_memory_kv())  # (1, 1, dl)
        self.prev_was_unit = True
        return m.local_head(dec)[0, 0], flag


@torch.no_grad()
def generate(model, prompt: List[int], max_new_tokens: int, prompt_seg_start: Optional[List[int]] = None,
             greedy: bool = True, temperature: float = 1.0, top_k: Optional[int] = None, seed: int = 0,
             use_cache: bool = True, stop_at_eos: bool = True) -> Dict:
    """Continue `prompt` (joint ids, normally starting with <sos/eos>).
    -> {"ids", "seg_start", "global_steps"}: the full sequence (prompt + continuation), its
    alignment flags (aligned LST: the boundary decisions) and the number of global-model
    steps of the cached path (prompt included; None without cache)."""
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator().manual_seed(seed)
        ids = list(prompt)
        flags = list(prompt_seg_start) if prompt_seg_start is not None else [None] * len(ids)
        if isinstance(model, TokenLM):
            out = _generate_token_lm(model, ids, max_new_tokens, greedy, temperature, top_k, gen, use_cache, stop_at_eos)
            return {"ids": out[0], "seg_start": [0] * len(out[0]), "global_steps": out[1] if use_cache else None}
        if isinstance(model, LSTModel):
            return _generate_lst(model, ids, flags, max_new_tokens, greedy, temperature, top_k, gen, use_cache,
                                 stop_at_eos)
        raise TypeError(f"cannot generate with {type(model).__name__}")
    finally:
        model.train(was_training)


def _generate_token_lm(model, ids, max_new, greedy, temperature, top_k, gen, use_cache, stop_at_eos):
    stream = TokenStream(model) if use_cache else None
    steps, len_max = 0, len(ids) + max_new
    logits = stream.feed(ids) if use_cache else None
    for _ in range(max_new):
        if not use_cache:
            logits = model.logits(torch.tensor([ids]))[0, -1]
            steps += 1
        tok = pick(logits, greedy, temperature, top_k, gen)
        ids.append(tok)
        if (stop_at_eos and tok == SOS_EOS_ID) or len(ids) == len_max:
            break
        if use_cache:
            logits = stream.feed([tok])
    return ids, stream.global_steps if use_cache else steps


def _lst_mode(model: LSTModel) -> str:
    return model.patcher.resolve(int(model.step), False, None)


def _generate_lst(model: LSTModel, ids, flags, max_new, greedy, temperature, top_k, gen, use_cache, stop_at_eos):
    mode = _lst_mode(model)
    if use_cache:
        stream = LSTStream(model, mode)
        used = []
        for tok, f in zip(ids, flags):
            logits, flag = stream.feed(tok, f, greedy, gen)
            used.append(flag)
        for i in range(max_new):
            tok = pick(logits, greedy, temperature, top_k, gen)
            ids.append(tok)
            if stop_at_eos and tok == SOS_EOS_ID:
                used.append(0)
                break
            # the last token is still fed: its boundary flag (aligned) is part of the output
            logits, flag = stream.feed(tok, None, greedy, gen)
            used.append(flag)
        return {"ids": ids, "seg_start": used, "global_steps": stream.global_steps}

    # reference path: full recomputation at every step, same decisions
    used: List[int] = []
    logits = None
    for i, (tok, f) in enumerate(zip(ids, flags)):
        logits, flag = _full_step(model, ids[: i + 1], used, f, mode, greedy, gen)
        used.append(flag)
    for _ in range(max_new):
        tok = pick(logits, greedy, temperature, top_k, gen)
        ids.append(tok)
        if stop_at_eos and tok == SOS_EOS_ID:
            used.append(0)
            break
        logits, flag = _full_step(model, ids, used, None, mode, greedy, gen)
        used.append(flag)
    return {"ids": ids, "seg_start": used, "global_steps": None}


def _full_step(model: LSTModel, ids, used, seg_flag, mode, greedy, gen):
    """Flag of the last token and next-token logits, by a full forward over `ids`."""
    seq = torch.tensor([ids])
    lens = torch.tensor([len(ids)])
    tok, prev = ids[-1], ids[-2] if len(ids) > 1 else None
    is_unit = tok >= model.unit_offset
    span_start = is_unit and (prev is None or prev < model.unit_offset)
    flag = 0
    if is_unit:
        if span_start:
            flag = 1
        elif mode != "aligned":
            flag = int(seg_flag or 0)
        elif seg_flag is not None:
            flag = int(seg_flag)
        else:  # the boundary head reads the local encoder state, which does not depend on flags
            _, bd = model.next_logits(seq, lens, torch.tensor([used + [0]]), [mode], allow_fallback=False)
            p = torch.sigmoid(bd[0])
            flag = int(p > 0.5) if greedy else int(torch.rand((), generator=gen) < p)
    logits, _ = model.next_logits(seq, lens, torch.tensor([used + [flag]]), [mode], allow_fallback=False)
    return logits[0], flag
