"""SpiritLM-style word-level interleaving of speech units and text BPE pieces.

An utterance with word timings is cut into *word groups* (:func:`lst.data.timings.word_groups`:
one word each, except words too short to own a unit, which share their neighbour's segment).
An interleaved sequence is a list of :class:`~lst.data.sequence_format.Span` that alternate
modality; every span covers consecutive whole groups, so modality switches only at word
boundaries and every word appears exactly once, in exactly one modality:

* a text span holds the sentencepiece pieces of its words (joined by single spaces, encoded
  as one string, so the first piece carries the word-start marker ``▁``);
* a speech span holds the units of its groups, i.e. each word's units plus the silence gap
  that follows it (the utterance's leading silence goes with the first word), with
  ``segments`` = the lengths of the word and silence segments inside it, in order, so the
  aligned patcher gets one patch per word and one per silence gap.

Where the modality switches (:class:`InterleaveConfig`):

* span mode (default, the paper's recipe): spans alternate modality, each one ``U(lo, hi)``
  words long (``span_words=(5, 30)``), the first modality drawn at random;
* switch-probability mode (``switch_prob=p``): at each word boundary the modality switches
  with probability ``p``.

In both modes an utterance of two or more groups always gets at least one switch (a single
span would be a speech-only or text-only sequence, which have their own ids).

Besides interleaved sequences (id prefix ``inter_``) the corpus mixes speech-only (``speech_``,
the whole utterance as one speech span with its segments) and text-only (``text_``)
sequences; :func:`assign_kinds` gives each utterance one kind so that the counts match the
requested ratios exactly (largest-remainder rounding), in a seeded random order.
"""
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from lst.data.sequence_format import Span
from lst.data.timings import (
    TimingError,
    WordGroup,
    WordTiming,
    alignment_segments,
    check_words_match,
    validate_timings,
    word_groups,
)

KINDS = ("inter", "speech", "text")
Encoder = Callable[[str], List[str]]


@dataclass
class InterleaveConfig:
    switch_prob: Optional[float] = None  # set -> switch-probability mode
    span_words: Tuple[int, int] = (5, 30)  # span mode: words per span, inclusive range
    first: str = "random"  # "random", "speech" or "text"

    def __post_init__(self):
        if self.switch_prob is not None and not 0.0 < self.switch_prob <= 1.0:
            raise ValueError(f"switch_prob must be in (0, 1], got {self.switch_prob}")
        lo, hi = self.span_words
        if not 1 <= lo <= hi:
            raise ValueError(f"span_words must satisfy 1 <= lo <= hi, got {self.span_words}")
        if self.first not in ("random", "speech", "text"):
            raise ValueError(f"first must be random/speech/text, got {self.first!r}")


@dataclass
class AlignedUtterance:
    """An utterance's words, units and the unit territory of each word group."""

    utt: str
    words: List[str]
    units: List[int]
    groups: List[WordGroup] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        utt: str,
        words: Sequence[str],
        timings: Sequence[WordTiming],
        units: Sequence[int],
        unit_rate_hz: float,
        tail_tolerance_s: float = 0.1,
    ) -> "AlignedUtterance":
        """Check the timings against the text (TimingError naming ``utt``) and map them to units."""
        validate_timings(utt, timings)
        check_words_match(utt, words, timings)
        if not words:
            raise TimingError(f"utterance {utt}: no words")
        segs = alignment_segments(timings, len(units), unit_rate_hz, utt=utt, tail_tolerance_s=tail_tolerance_s)
        groups = word_groups(segs)
        return cls(utt, list(words), [int(u) for u in units], groups)

    @property
    def segments(self) -> List[int]:
        return [len(s) for g in self.groups for s in g.segments]

    def group_words(self, g0: int, g1: int) -> List[str]:
        return [self.words[k] for g in self.groups[g0:g1] for k in g.words]

    def speech_span(self, g0: int, g1: int) -> Span:
        groups = self.groups[g0:g1]
        items = self.units[groups[0].start : groups[-1].end]
        segments = [len(s) for g in groups for s in g.segments]
        return Span("speech", items, segments)

    def text_span(self, g0: int, g1: int, encode: Encoder) -> Span:
        pieces = encode(" ".join(self.group_words(g0, g1)))
        if not pieces:
            raise ValueError(f"utterance {self.utt}: words {self.group_words(g0, g1)} encode to no BPE piece")
        return Span("text", pieces)


def plan_spans(n_groups: int, cfg: InterleaveConfig, rng: random.Random) -> List[Tuple[str, int, int]]:
    """[(modality, first group, one past last group)] covering range(n_groups) in order."""
    if n_groups <= 0:
        return []
    mod = cfg.first if cfg.first != "random" else rng.choice(("speech", "text"))
    other = {"speech": "text", "text": "speech"}
    cuts: List[int] = []
    if cfg.switch_prob is not None:
        cuts = [b for b in range(1, n_groups) if rng.random() < cfg.switch_prob]
    else:
        lo, hi = cfg.span_words
        pos = 0
        while True:
            pos += rng.randint(lo, hi)
            if pos >= n_groups:
                break
            cuts.append(pos)
    if not cuts and n_groups >= 2:  # always interleave something
        cuts = [rng.randint(1, n_groups - 1)]
    bounds = [0] + cuts + [n_groups]
    plan = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        plan.append((mod, a, b))
        mod = other[mod]
    return plan


def interleave(ua: AlignedUtterance, encode: Encoder, cfg: InterleaveConfig, rng: random.Random, return_plan=False):
    """Spans of one interleaved sequence (and, with ``return_plan``, the plan of group ranges)."""
    plan = plan_spans(len(ua.groups), cfg, rng)
    spans = [ua.speech_span(a, b) if mod == "speech" else ua.text_span(a, b, encode) for mod, a, b in plan]
    return (spans, plan) if return_plan else spans


def speech_only(ua: AlignedUtterance) -> List[Span]:
    return [ua.speech_span(0, len(ua.groups))]


def text_only(words: Sequence[str], encode: Encoder) -> List[Span]:
    return [Span("text", encode(" ".join(words)))]


def assign_kinds(n: int, ratios: Dict[str, float], rng: random.Random) -> List[str]:
    """One kind per item; counts are the ratios' exact largest-remainder shares of ``n``."""
    unknown = set(ratios) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown sequence kinds {sorted(unknown)}; use {KINDS}")
    if any(v < 0 for v in ratios.values()) or sum(ratios.values()) <= 0:
        raise ValueError(f"ratios must be >= 0 with a positive sum, got {ratios}")
    total = float(sum(ratios.values()))
    shares = {k: n * v / total for k, v in ratios.items()}
    counts = {k: int(s) for k, s in shares.items()}
    rest = n - sum(counts.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - counts[k]), KINDS.index(k)))[:rest]:
        counts[k] += 1
    kinds = [k for k in KINDS if k in counts for _ in range(counts[k])]
    rng.shuffle(kinds)
    return kinds


def parse_ratios(text: str) -> Dict[str, float]:
    """'inter=0.5,speech=0.25,text=0.25' -> dict (missing kinds are 0)."""
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"ratio {part!r} must look like kind=weight")
        k, v = part.split("=", 1)
        out[k.strip()] = float(v)
    assign_kinds(0, out, random.Random(0))  # validates
    return out
