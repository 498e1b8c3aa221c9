"""Downstream decoding with a pretrained/fine-tuned speech-text LM: ASR (units -> text) and
TTS (text -> units), greedy or beam, with or without a KV cache.

Prompts follow the fine-tuning corpus (lst/downstream/corpus.py)::

    ASR  <sos/eos> <s> u1 ... uN <t>   -> text pieces ... <sos/eos>
    TTS  <sos/eos> <t> p1 ... pM <s>   -> units ...      <sos/eos>

The output vocabulary is restricted to the target modality plus <sos/eos> (ASR: BPE pieces;
TTS: units), so an under-trained model cannot wander into the other modality.

Streams. Decoding runs on *streams*: objects with ``feed(token) -> next-token logits`` and
``clone()``. ``lst.models.generate`` provides the cached incremental state of both models
(TokenLM: one global step per token; LST: one global step per patch, per text token and per
marker). On top of it:

* ``prefill`` feeds the prompt. TokenLM: one parallel forward over the prompt. LST with
  static/silence patching: one parallel pass of the local encoder, the patch encoder, the
  global model and the local decoder over the whole prompt that fills all three KV caches
  exactly as the incremental path would (tested against it); aligned patching falls back to
  token-by-token feeding, because the boundary head decides each patch end.
* ``FullStream`` is the no-cache reference: it recomputes a full forward over the whole
  prefix at every step (``TokenLM.logits`` / ``LSTModel.next_logits``).
* Beam search clones streams; a KV cache is cloned by copying its per-layer holders only
  (``LayerCache.append`` concatenates into new tensors, never writes in place).

Text decoding after the speech prefix is the same loop for both models: LST predicts every
token with its local decoder, one global step per text token (a 1-token patch).
"""
import copy
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from espnet.nets.ctc_prefix_score import CTCPrefixScore

from lst.models.ctc import ctc_greedy
from lst.models.generate import LSTStream, TokenStream, _lst_mode, pick
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM
from lst.vocab import BLANK_ID, SOS_EOS_ID, SPEECH_MARK_ID, TEXT_MARK_ID, SpeechTextVocab


# ---- prompts ------------------------------------------------------------------------------
def asr_prompt(vocab: SpeechTextVocab, units: Sequence[int]) -> List[int]:
    return [SOS_EOS_ID, SPEECH_MARK_ID] + [vocab.unit_id(int(u)) for u in units] + [TEXT_MARK_ID]


def tts_prompt(text_ids: Sequence[int]) -> List[int]:
    return [SOS_EOS_ID, TEXT_MARK_ID] + list(text_ids) + [SPEECH_MARK_ID]


def allowed_mask(vocab: SpeechTextVocab, target: str) -> torch.Tensor:
    """Bool (V,): the ids a decoder may emit for `target` ("text" or "speech") + <sos/eos>."""
    m = torch.zeros(len(vocab), dtype=torch.bool)
    if target == "text":
        m[vocab.text_offset: vocab.unit_offset] = True
    elif target == "speech":
        m[vocab.unit_offset:] = True
    else:
        raise ValueError(target)
    m[SOS_EOS_ID] = True
    return m


# ---- streams ------------------------------------------------------------------------------
def _clone_cache(cache):
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    return new


class CachedStream:
    """Wraps lst.models.generate's TokenStream / LSTStream: feed one token -> logits."""

    def __init__(self, model, greedy: bool = True, generator: Optional[torch.Generator] = None):
        self.model = model
        self.greedy, self.generator = greedy, generator
        if isinstance(model, TokenLM):
            self.inner = TokenStream(model)
        elif isinstance(model, LSTModel):
            self.inner = LSTStream(model, _lst_mode(model))
        else:
            raise TypeError(f"cannot decode with {type(model).__name__}")

    @property
    def global_steps(self) -> int:
        return self.inner.global_steps

    def feed(self, token: int) -> torch.Tensor:
        if isinstance(self.inner, TokenStream):
            return self.inner.feed([token])
        return self.inner.feed(token, None, self.greedy, self.generator)[0]

    def prefill(self, prompt: Sequence[int]) -> torch.Tensor:
        if isinstance(self.inner, TokenStream):
            return self.inner.feed(list(prompt))
        if self.inner.mode != "aligned" and prompt[-1] < self.model.unit_offset and not self.inner.global_steps:
            return _lst_parallel_prefill(self.inner, prompt)
        logits = None
        for tok in prompt:
            logits = self.feed(tok)
        return logits

    def clone(self) -> "CachedStream":
        new = copy.copy(self)
        inner = copy.copy(self.inner)
        if isinstance(inner, TokenStream):
            inner.cache = _clone_cache(inner.cache)
        else:
            inner.glob_cache = _clone_cache(inner.glob_cache)
            inner.enc_cache = _clone_cache(inner.enc_cache)
            inner.dec_cache = _clone_cache(inner.dec_cache)
            inner.open_units, inner.open_h = list(inner.open_units), list(inner.open_h)
        new.inner = inner
        return new


@torch.no_grad()
def _lst_parallel_prefill(stream: LSTStream, prompt: Sequence[int]) -> torch.Tensor:
    """Fill the LST stream's caches from a whole prompt in one pass per module (same result
    as feeding it token by token): ``LSTStream.prefill``."""
    return stream.prefill(list(prompt))


class FullStream:
    """No-cache reference: a full forward over the whole prefix at every step."""

    def __init__(self, model):
        self.model, self.ids = model, []
        self.global_steps = None
        self.mode = _lst_mode(model) if isinstance(model, LSTModel) else None
        if self.mode == "aligned":
            raise NotImplementedError("FullStream: aligned LST needs boundary decisions; use the cached stream")

    @torch.no_grad()
    def _logits(self) -> torch.Tensor:
        seq = torch.tensor([self.ids])
        if isinstance(self.model, TokenLM):
            return self.model.logits(seq)[0, -1]
        logits, _ = self.model.next_logits(seq, torch.tensor([len(self.ids)]), None, [self.mode],
                                           allow_fallback=False)
        return logits[0]

    def feed(self, token: int) -> torch.Tensor:
        self.ids.append(int(token))
        return self._logits()

    def prefill(self, prompt: Sequence[int]) -> torch.Tensor:
        self.ids.extend(int(t) for t in prompt)
        return self._logits()

    def clone(self) -> "FullStream":
        new = copy.copy(self)
        new.ids = list(self.ids)
        return new


def make_stream(model, use_cache: bool = True):
    return CachedStream(model) if use_cache else FullStream(model)


# ---- search -------------------------------------------------------------------------------
@torch.no_grad()
def greedy_decode(model, prompt: Sequence[int], allowed: torch.Tensor, max_len: int, min_len: int = 0,
                  use_cache: bool = True, sample: bool = False, temperature: float = 1.0,
                  top_k: Optional[int] = None, seed: int = 0) -> Dict:
    """-> {"tokens": emitted ids (no <sos/eos>), "global_steps", "prefill_steps", "seconds"}."""
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    stream = make_stream(model, use_cache)
    if isinstance(stream, CachedStream):
        stream.greedy, stream.generator = not sample, gen
    logits = stream.prefill(prompt)
    prefill_steps = stream.global_steps
    out: List[int] = []
    neg = torch.full_like(logits, float("-inf"))
    for _ in range(max_len):
        lg = torch.where(allowed, logits, neg)
        if len(out) < min_len:
            lg[SOS_EOS_ID] = float("-inf")
        tok = pick(lg, not sample, temperature, top_k, gen)
        if tok == SOS_EOS_ID:
            break
        out.append(tok)
        logits = stream.feed(tok)
    model.train(was_training)
    return {"tokens": out, "global_steps": stream.global_steps, "prefill_steps": prefill_steps,
            "seconds": time.perf_counter() - t0}


@torch.no_grad()
def beam_decode(model, prompt: Sequence[int], allowed: torch.Tensor, max_len: int, beam: int = 4,
                length_penalty: float = 1.0, use_cache: bool = True, ctc_log_probs: Optional[torch.Tensor] = None,
                ctc_weight: float = 0.0, length_bonus: float = 0.0, pre_beam_by: str = "lm") -> Dict:
    """Beam search over the allowed ids after the prompt. Finished hypotheses are ranked by
    score / (length + 1) ** length_penalty (the +1 counts <sos/eos>). The score is the
    log-probability, or with ``ctc_log_probs`` (S, C) of the utterance ESPnet's joint
    CTC/attention score ``(1 - ctc_weight) * log p_LM + ctc_weight * log p_CTC(prefix)`` (CTC
    prefix scores by ESPnet's CTCPrefixScore, over the 1.5 x beam best LM candidates of each
    hypothesis, as ESPnet's pre-beam): CTC bounds the length by the units, so loops and
    dropped words cost. ``pre_beam_by="ctc"`` takes those candidates from the CTC prefix scores of
    every allowed token instead (ESPnet's full CTC scoring), so an LM that has over-fitted cannot
    prune the token the CTC head is sure of before CTC has scored it. Either way ``length_bonus`` is
    added per token, <sos/eos> included: ESPnet's ``--penalty`` (its LengthBonus scorer). With
    length_penalty 0 this is ESPnet's search, where a bonus > 0 counters the early end that drops
    the last words.
    -> {"tokens", "score" (with the bonus), "global_steps" (all hypotheses together), "seconds", "nbest"}."""
    if length_penalty < 0 or not math.isfinite(length_bonus):
        raise ValueError(f"length_penalty must be >= 0 and length_bonus finite, got {length_penalty}, {length_bonus}")
    if pre_beam_by not in ("lm", "ctc"):
        raise ValueError(f"pre_beam_by must be 'lm' or 'ctc', got {pre_beam_by!r}")
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    root = make_stream(model, use_cache)
    logits = root.prefill(prompt)
    steps0 = root.global_steps or 0
    total_steps = steps0
    ctc = None if ctc_log_probs is None else CTCPrefixScore(ctc_log_probs.float().numpy(), BLANK_ID, SOS_EOS_ID,
                                                            np)
    # (score, tokens, stream, next logits, joint state: (LM log-prob, CTC state, CTC score) or None)
    live: List[Tuple] = [(0.0, [], root, logits, None if ctc is None else (0.0, ctc.initial_state(), 0.0))]
    finished: List[Tuple[float, float, List[int]]] = []
    neg = torch.tensor(float("-inf"))
    n_allowed = int(allowed.sum())
    pre_beam = min(n_allowed, beam if ctc is None else int(math.ceil(1.5 * beam)))
    allowed_ids = np.flatnonzero(allowed.numpy())  # the candidates CTC ranks with pre_beam_by="ctc"
    for t in range(max_len + 1):
        cands = []
        for score, toks, stream, lg, joint in live:
            logp = torch.log_softmax(torch.where(allowed, lg.float(), neg), -1)
            forced = t == max_len or ctc is not None and len(toks) >= ctc.input_length  # force the end
            # (CTC: a transcript cannot outnumber the units)
            if forced:
                ids = np.array([SOS_EOS_ID])
            elif ctc is not None and pre_beam_by == "ctc":
                ids = allowed_ids  # every allowed token: CTC ranks them below
            else:
                ids = torch.topk(logp, pre_beam).indices.numpy()
            lps = logp[torch.from_numpy(ids)].numpy()
            ids, lps = ids[lps != -np.inf], lps[lps != -np.inf]
            if ctc is None:
                cands += [(score + lp + length_bonus, toks, stream, tok, None)
                          for tok, lp in zip(ids.tolist(), lps.tolist())]
                continue
            lm_prev, state, _ = joint
            ctc_scores, ctc_states = ctc([SOS_EOS_ID] + toks, ids, state)
            if pre_beam_by == "ctc" and not forced:  # the pre-beam by CTC prefix score
                best = np.argsort(-ctc_scores, kind="stable")[:pre_beam]
                ids, lps, ctc_scores = ids[best], lps[best], ctc_scores[best]
                ctc_states = [ctc_states[b] for b in best]
            keep = list(zip(ids.tolist(), lps.tolist()))
            for j, (tok, lp) in enumerate(keep):
                lm = lm_prev + lp
                cs = float(ctc_scores[j])
                bonus = length_bonus * (len(toks) + 1)
                cands.append(((1 - ctc_weight) * lm + ctc_weight * cs + bonus, toks, stream, tok, (lm, ctc_states[j], cs)))
        cands.sort(key=lambda c: -c[0])
        live = []
        for score, toks, stream, tok, joint in cands:
            if tok == SOS_EOS_ID:
                finished.append((score / (len(toks) + 1) ** length_penalty, score, toks))
                continue
            if len(live) >= beam:
                continue
            child = stream.clone()
            before = child.global_steps or 0
            lg = child.feed(tok)
            total_steps += (child.global_steps or 0) - before
            live.append((score, toks + [tok], child, lg, joint))
        if not live:
            break
        if length_bonus == 0:
            if len(finished) >= beam and max(f[0] for f in finished) >= max(
                    c[0] / (len(c[1]) + 1) ** length_penalty for c in live):
                break
        elif ended_far_below_best(finished, t):  # a live hypothesis can still gain the bonus: ESPnet's rule
            break
    model.train(was_training)
    finished.sort(key=lambda f: -f[0])
    best = finished[0] if finished else (-math.inf, -math.inf, [])
    return {"tokens": best[2], "score": best[1], "global_steps": total_steps if use_cache else None,
            "prefill_steps": steps0, "seconds": time.perf_counter() - t0,
            "nbest": [(f[0], f[2]) for f in finished[:beam]]}


def ended_far_below_best(finished: Sequence[Tuple[float, float, List[int]]], t: int, last: int = 3,
                         margin: float = 10.0) -> bool:
    """ESPnet's end_detect, the stopping rule of its search with a length bonus: the best hypothesis
    that ended at each of the last ``last`` steps (t, t-1, ...) scored more than ``margin`` below
    the best ended one (raw scores, bonus included), so longer ones are not coming back. A step with
    no ended hypothesis keeps the search going. ``finished``: beam_decode's (ranked score, score,
    tokens); a hypothesis of k tokens ended at step k."""
    if not finished:
        return False
    best = max(f[1] for f in finished)
    for m in range(last):
        ended = [f[1] for f in finished if len(f[2]) == t - m]
        if not ended or max(ended) - best >= -margin:
            return False
    return True


# ---- convenience --------------------------------------------------------------------------
@torch.no_grad()
def ctc_decode(model, vocab: SpeechTextVocab, units: Sequence[int]) -> Dict:
    """Greedy CTC over the speech prompt of a model fine-tuned with a CTC head (model_conf
    ctc_weight > 0; lst/models/ctc.py): one parallel forward over ``<sos/eos> <s> units``, no
    autoregressive text steps, so it cannot loop. -> greedy_decode's dict."""
    t0 = time.perf_counter()
    log_probs, steps = unit_ctc_log_probs(model, vocab, units)
    tokens = ctc_greedy(log_probs)
    return {"tokens": tokens, "global_steps": steps, "prefill_steps": steps, "seconds": time.perf_counter() - t0}


def unit_ctc_log_probs(model, vocab: SpeechTextVocab, units: Sequence[int]) -> Tuple[torch.Tensor, int]:
    """-> the CTC head's log-probabilities (N, C) at the N unit positions of the ASR prompt,
    and the global steps of that forward."""
    seq = torch.tensor([asr_prompt(vocab, units)[:-1]])  # the <t> marker adds nothing causal
    was_training = model.training
    model.eval()
    try:
        return model.ctc_logprobs(seq)[0, 2:], prompt_global_steps(model, seq)
    finally:
        model.train(was_training)


def prompt_global_steps(model, seq: torch.Tensor) -> int:
    """Global-transformer positions of one forward over seq (1, T): every token for the token
    baseline, patches + text tokens + markers for LST (its evaluation patching)."""
    if isinstance(model, LSTModel):
        plan = model.plan(seq, torch.tensor([seq.shape[1]]), None)
        return int(plan.counts["patches"].sum())
    return int(seq.shape[1])


def recognize(model, vocab: SpeechTextVocab, units: Sequence[int], beam: int = 1, max_len: int = 64,
              use_cache: bool = True, length_penalty: float = 1.0, ctc: bool = False,
              ctc_weight: float = 0.0, length_bonus: float = 0.0, pre_beam_by: str = "lm") -> Dict:
    """units -> text ids: greedy (beam 1) or beam search of the LM after the ASR prompt;
    ctc=True: greedy CTC with the model's CTC head; ctc_weight > 0 (beam > 1): joint
    CTC/attention beam search with that head (beam_decode, whose pre-beam ``pre_beam_by`` picks)."""
    if ctc:
        return ctc_decode(model, vocab, units)
    prompt = asr_prompt(vocab, units)
    allowed = allowed_mask(vocab, "text")
    if beam <= 1:
        if ctc_weight > 0:
            raise ValueError("joint CTC/attention decoding needs a beam > 1")
        return greedy_decode(model, prompt, allowed, max_len, use_cache=use_cache)
    if ctc_weight > 0:
        t0 = time.perf_counter()
        log_probs, ctc_steps = unit_ctc_log_probs(model, vocab, units)  # the head's own forward, counted too
        ctc_s = time.perf_counter() - t0
        out = beam_decode(model, prompt, allowed, max_len, beam, length_penalty, use_cache, log_probs, ctc_weight,
                          length_bonus, pre_beam_by)
        out["seconds"] += ctc_s
        if out["global_steps"] is not None:
            out["global_steps"] += ctc_steps
        return out
    return beam_decode(model, prompt, allowed, max_len, beam, length_penalty, use_cache, length_bonus=length_bonus)


def synthesize_units(model, vocab: SpeechTextVocab, text_ids: Sequence[int], max_units: int, min_units: int = 1,
                     use_cache: bool = True, sample: bool = False, temperature: float = 1.0,
                     top_k: Optional[int] = None, seed: int = 0) -> Dict:
    """-> greedy_decode's dict plus "units" (0-based unit ids)."""
    out = greedy_decode(model, tts_prompt(text_ids), allowed_mask(vocab, "speech"), max_units, min_units,
                        use_cache, sample, temperature, top_k, seed)
    out["units"] = [t - vocab.unit_offset for t in out["tokens"]]
    return out
