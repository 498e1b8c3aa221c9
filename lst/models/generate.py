"""Autoregressive generation for both models (greedy or sampling), with or without a KV cache.

TokenLM: one global step per token.
LSTModel: one global step per *patch* (every text token / marker is a 1-token patch); every
token is decoded by the local decoder, which reads the global states of the most recent
complete patches (exactly as in training, see lst_model.py). The end of a patch at inference follows the
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
import copy
from typing import Dict, List, Optional

import torch

from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM
from lst.nn.step import patch_step, stack_step
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
    """Incremental LST decoding: KV caches in the local encoder, the global model and the
    local decoder, and per decoder layer the cross-attention keys/values of the
    `decoder_window` most recent complete patches (k vectors each; appended once per
    patch). Every token runs through the local encoder and decoder; a global step is taken
    when a patch is complete (a text token / marker at once, a unit patch when closed by
    length or when the next token shows it ended). In eval mode the stacks run through
    `lst.nn.step.stack_step` (same values as their forward, less per-step overhead).
    State is only ever rebound, never modified in place, so a shallow copy that also copies
    the three caches is an independent stream (`clone`, beam search)."""

    def __init__(self, model: LSTModel, mode: str):
        self.m, self.mode = model, mode
        self.glob_cache = model.glob.new_cache()
        self.enc_cache = model.local_enc.new_cache()
        self.dec_cache = model.local_dec.new_cache()
        dev = model.head.weight.device
        self.kvs = [None if b.cross is None else tuple(
            torch.zeros(1, b.cross.n_heads, 0, b.cross.head_dim, device=dev) for _ in range(2))
            for b in model.local_dec.blocks]
        self.open_units: List[int] = []
        self.open_h: List[torch.Tensor] = []  # (1, 1, dl) each
        self.prev_was_unit = False
        self.span_mode = mode
        self.global_steps = 0

    def clone(self) -> "LSTStream":
        new = copy.copy(self)
        new.glob_cache, new.enc_cache, new.dec_cache = (_clone_cache(c) for c in
                                                        (self.glob_cache, self.enc_cache, self.dec_cache))
        new.open_units, new.open_h = list(self.open_units), list(self.open_h)
        return new

    def _add_global(self, g: torch.Tensor):
        """New complete patches' global states g (1, n, d) -> the decoder's memory window."""
        m, k = self.m, self.m.patch_vectors
        new = m.local_dec.cross_kvs(m.dec_memory(g))  # per layer (1, H, n*k, hd)
        keep = m.decoder_window * k
        self.kvs = [None if old is None else tuple(torch.cat([o, x], 2)[:, :, -keep:] for o, x in zip(old, add))
                    for old, add in zip(self.kvs, new)]
        self.global_steps += g.shape[1]

    def _close_patch(self):
        hp = torch.cat(self.open_h, dim=1)  # (1, L, dl)
        z = patch_step(self.m.patch_enc, hp)  # (1, d)
        self._add_global(stack_step(self.m.glob, z[:, None], self.glob_cache))
        self.open_units, self.open_h = [], []

    def feed(self, token: int, seg_flag: Optional[int] = None, greedy: bool = True,
             generator: Optional[torch.Generator] = None):
        """Append one token. seg_flag: its alignment flag (aligned mode); None = let the
        boundary head decide (1 at a span start). -> (logits (V,) of the next token, the flag used)."""
        m = self.m
        # embedding row as a (1, 1, dl) view: the lookup without an index tensor
        h = stack_step(m.local_enc, m.embed.weight[token].view(1, 1, -1), self.enc_cache)  # (1, 1, dl)
        if token < m.unit_offset:
            if self.open_units:  # a non-unit ends the span: the open patch is complete
                self._close_patch()
            self.open_h = [h]
            self._close_patch()  # a 1-token patch, complete at once
            self.prev_was_unit, flag = False, 0
        else:
            u = token - m.unit_offset
            if not self.prev_was_unit:  # a span starts: aligned unless its first flag says unaligned
                flag = 1 if seg_flag is None else int(seg_flag)
                self.span_mode = "static" if self.mode == "aligned" and not flag else self.mode
            elif self.span_mode != "aligned" or seg_flag is not None:
                flag = int(seg_flag or 0)
            else:
                if m.boundary_head is None:
                    raise ValueError("aligned generation needs a boundary head (model_conf boundary_head: true)")
                p = torch.sigmoid(m.boundary_head(h)[0, 0, 0])
                flag = int(p > 0.5) if greedy else int(torch.rand((), generator=generator) < p)
            if self.open_units and m.patcher.starts_new_patch(self.span_mode, self.open_units, u, flag):
                self._close_patch()
            self.open_units = self.open_units + [u]
            self.open_h = self.open_h + [h]
            cap = m.patcher.cap(self.span_mode, self.open_units[0])
            if cap is not None and len(self.open_units) >= cap:
                self._close_patch()  # closed by length: already complete, the decoder may read it
            self.prev_was_unit = True
        dec = stack_step(m.local_dec, h, self.dec_cache, self.kvs)  # (1, 1, dl)
        return m.head(dec)[0, 0], flag

    @torch.no_grad()
    def prefill(self, prompt: List[int], flags: Optional[List[int]] = None) -> torch.Tensor:
        """Feed a whole prompt in one pass per module (same state and logits as feeding it
        token by token; static/silence patching, or aligned with the prompt's flags given).
        Only on a fresh stream. -> logits (V,) of the next token."""
        m = self.m
        assert self.global_steps == 0 and self.enc_cache.length == 0, "prefill: fresh stream only"
        if self.mode == "aligned" and flags is None:
            raise ValueError("prefill: aligned patching needs the prompt's alignment flags")
        dev = m.head.weight.device
        seq = torch.tensor([list(prompt)], device=dev)
        seg = torch.tensor([list(flags)], device=dev) if flags is not None else None
        plan = m.plan(seq, torch.tensor([len(prompt)], device=dev), seg, [self.mode])
        h = m.local_enc(m.embed(seq), cache=self.enc_cache)  # (1, T, dl)
        hf = h[0]
        n_done = int(plan.ctx[0, -1]) + 1  # complete patches at the end of the prompt
        z = m.patch_enc(hf, plan.patch_tok[:n_done], plan.patch_mask[:n_done])  # (n_done, d)
        g = m.glob(z[None], cache=self.glob_cache)  # (1, n_done, d)
        lo, hi = m.slot_range(plan.ctx)
        dec = m.local_dec(h, cache=self.dec_cache, mem=m.dec_memory(g), mem_lo=lo, mem_hi=hi)
        self._add_global(g)
        if n_done < plan.patch_tok.shape[0]:  # the last patch is still open
            toks = plan.patch_tok[n_done][plan.patch_mask[n_done]].tolist()
            self.open_h = [h[:, t: t + 1] for t in toks]
            self.open_units = [prompt[t] - m.unit_offset for t in toks]
        self.prev_was_unit = prompt[-1] >= m.unit_offset
        if self.prev_was_unit:  # the span of the last token: its first unit's flag decides (aligned)
            t = len(prompt) - 1
            while t > 0 and prompt[t - 1] >= m.unit_offset:
                t -= 1
            first = 1 if flags is None else int(flags[t])
            self.span_mode = "static" if self.mode == "aligned" and not first else self.mode
        return m.head(dec[0, -1])


@torch.no_grad()
def generate(model, prompt: List[int], max_new_tokens: int, prompt_seg_start: Optional[List[int]] = None,
             greedy: bool = True, temperature: float = 1.0, top_k: Optional[int] = None, seed: int = 0,
             use_cache: bool = True, stop_at_eos: bool = True) -> Dict:
    """Continue `prompt` (joint ids, normally starting with <sos/eos>).
    -> {"ids", "seg_start", "global_steps", "logprobs"}: the full sequence (prompt +
    continuation), its alignment flags (aligned LST: the boundary decisions), the number of
    global-model steps of the cached path (prompt included; None without cache) and the
    model's log-probability of each generated token (before temperature / top-k)."""
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator().manual_seed(seed)
        ids = list(prompt)
        flags = list(prompt_seg_start) if prompt_seg_start is not None else [None] * len(ids)
        if isinstance(model, TokenLM):
            out = _generate_token_lm(model, ids, max_new_tokens, greedy, temperature, top_k, gen, use_cache, stop_at_eos)
            return {"ids": out[0], "seg_start": [0] * len(out[0]), "global_steps": out[1] if use_cache else None,
                    "logprobs": out[2]}
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
    lps = []
    for _ in range(max_new):
        if not use_cache:
            logits = model.logits(torch.tensor([ids]))[0, -1]
            steps += 1
        tok = pick(logits, greedy, temperature, top_k, gen)
        ids.append(tok)
        lps.append(float(torch.log_softmax(logits.float(), -1)[tok]))
        if (stop_at_eos and tok == SOS_EOS_ID) or len(ids) == len_max:
            break
        if use_cache:
            logits = stream.feed([tok])
    return ids, stream.global_steps if use_cache else steps, lps


def _clone_cache(cache):
    """A KV cache copy that shares the (never modified in place) tensors."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    return new


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
        lps = []
        for i in range(max_new):
            tok = pick(logits, greedy, temperature, top_k, gen)
            ids.append(tok)
            lps.append(float(torch.log_softmax(logits.float(), -1)[tok]))
            if stop_at_eos and tok == SOS_EOS_ID:
                used.append(0)
                break
            # the last token is still fed: its boundary flag (aligned) is part of the output
            logits, flag = stream.feed(tok, None, greedy, gen)
            used.append(flag)
        return {"ids": ids, "seg_start": used, "global_steps": stream.global_steps, "logprobs": lps}

    # reference path: full recomputation at every step, same decisions
    used: List[int] = []
    logits = None
    for i, (tok, f) in enumerate(zip(ids, flags)):
        logits, flag = _full_step(model, ids[: i + 1], used, f, mode, greedy, gen)
        used.append(flag)
    lps = []
    for _ in range(max_new):
        tok = pick(logits, greedy, temperature, top_k, gen)
        ids.append(tok)
        lps.append(float(torch.log_softmax(logits.float(), -1)[tok]))
        if stop_at_eos and tok == SOS_EOS_ID:
            used.append(0)
            break
        logits, flag = _full_step(model, ids, used, None, mode, greedy, gen)
        used.append(flag)
    return {"ids": ids, "seg_start": used, "global_steps": None, "logprobs": lps}


def _full_step(model: LSTModel, ids, used, seg_flag, mode, greedy, gen):
    """Flag of the last token and next-token logits, by a full forward over `ids`."""
    seq = torch.tensor([ids])
    lens = torch.tensor([len(ids)])
    tok, prev = ids[-1], ids[-2] if len(ids) > 1 else None
    is_unit = tok >= model.unit_offset
    flag = 0
    if is_unit:
        start = len(ids) - 1
        while start > 0 and ids[start - 1] >= model.unit_offset:
            start -= 1
        span_flag = used[start] if start < len(ids) - 1 else None
        if prev is None or prev < model.unit_offset:
            flag = 1 if seg_flag is None else int(seg_flag)
        elif mode != "aligned" or not span_flag or seg_flag is not None:
            flag = int(seg_flag or 0)
        else:  # the boundary head reads the local encoder state, which does not depend on flags
            _, bd = model.next_logits(seq, lens, torch.tensor([used + [0]]), [mode])
            p = torch.sigmoid(bd[0])
            flag = int(p > 0.5) if greedy else int(torch.rand((), generator=gen) < p)
    logits, _ = model.next_logits(seq, lens, torch.tensor([used + [flag]]), [mode])
    return logits[0], flag
