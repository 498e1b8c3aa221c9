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

The second half of this module is the paper's path (spec 4.3), used at batch time on word-level
documents (``lst/data/documents.py``): :class:`PaperInterleaveConfig` (span rules, speech:text
word ratio), :func:`parse_stream_mix` (``paper`` / ``spiritlm`` / weights), and the draw
functions (:func:`draw_kind`, :func:`draw_spans`, :func:`draw_rng`), all functions of
(seed, epoch, document id) only.
"""
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from lst.data.documents import SIL
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


# =========================================================================================
# Paper-style interleaving of a word-level document, drawn anew every epoch (spec 4.3)
# =========================================================================================
STREAM_MIXES = {
    # the paper (App. A.6): 33 % interleaved speech-text, 67 % text, no speech-only stream
    "paper": {"inter": 1 / 3, "text": 2 / 3},
    # SpiritLM: speech-only, interleaved and text each a third
    "spiritlm": {"inter": 1 / 3, "speech": 1 / 3, "text": 1 / 3},
}


def parse_word_ratio(value) -> float:
    """Speech words per text word: 0.5, "0.5" or "1:2" -> 0.5."""
    if isinstance(value, str) and ":" in value:
        s, t = value.split(":", 1)
        value = float(s) / float(t)
    value = float(value)
    if not 0.0 < value <= 10.0:
        raise ValueError(f"speech:text word ratio must be in (0, 10], got {value}")
    return value


@dataclass
class PaperInterleaveConfig:
    """Span rules of spec 4.3 (the authors' ``_random_interleaved_string_and_hu``).

    n real words: text span ~ U{lo..hi} with hi = max(2, min(max_span, floor(span_frac n))),
    lo = max(2, min(min_span, hi)); a speech span after a text span of t words has
    max(2, floor(ratio t)) words (a first speech span: U{max(2, floor(ratio lo))..max(2,
    floor(ratio hi))}); the last block is trimmed to the words left and merged into the
    previous block when shorter than ``min_final`` words. ``ratio`` = speech:text words
    (``"1:2"`` = 0.5, the paper's). A speech span keeps its words' units and the silences
    between them; a silence at a span edge that is not the utterance edge keeps the half of
    its frames next to the span (``ceil(n/2)``)."""

    ratio: float = 0.5
    first: str = "random"  # "random", "speech" or "text"
    max_span: int = 30
    min_span: int = 5
    span_frac: float = 0.6
    min_final: int = 3

    def __post_init__(self):
        self.ratio = parse_word_ratio(self.ratio)
        if self.first not in ("random", "speech", "text"):
            raise ValueError(f"interleave_conf first must be random/speech/text, got {self.first!r}")
        if not 2 <= self.min_span <= self.max_span:
            raise ValueError(f"interleave_conf needs 2 <= min_span <= max_span, got {self.min_span}, {self.max_span}")
        if not 0.0 < self.span_frac <= 1.0:
            raise ValueError(f"interleave_conf span_frac must be in (0, 1], got {self.span_frac}")

    @classmethod
    def from_dict(cls, d: Optional[Dict]) -> "PaperInterleaveConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"interleave_conf: unknown keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def parse_stream_mix(value) -> Dict[str, float]:
    """"paper" | "spiritlm" | {"inter": w, "text": w, "speech": w} | "inter=1,text=2" ->
    normalised weights over KINDS."""
    if value is None:
        value = "paper"
    if isinstance(value, str):
        if value in STREAM_MIXES:
            value = STREAM_MIXES[value]
        elif "=" in value:
            value = parse_ratios(value)
        else:
            raise ValueError(f"stream_mix {value!r}: use {sorted(STREAM_MIXES)} or a dict / 'inter=1,text=2'")
    value = {k: float(v) for k, v in dict(value).items()}
    assign_kinds(0, value, random.Random(0))  # validates names and weights
    total = sum(value.values())
    return {k: value.get(k, 0.0) / total for k in KINDS}


def plan_paper_blocks(n: int, cfg: PaperInterleaveConfig, rng: random.Random) -> List[Tuple[str, int, int]]:
    """[(modality, first word, one past last word)] covering range(n) in order (spec 4.3)."""
    if n <= 0:
        return []
    hi = max(2, min(cfg.max_span, int(math.floor(cfg.span_frac * n + 1e-9))))
    lo = max(2, min(cfg.min_span, hi))
    half = lambda x: max(2, int(math.floor(cfg.ratio * x + 1e-9)))  # noqa: E731
    mod = cfg.first if cfg.first != "random" else rng.choice(("speech", "text"))
    blocks: List[List] = []
    pos, prev_text = 0, None
    while pos < n:
        if mod == "text":
            length = prev_text = rng.randint(lo, hi)
        elif prev_text is None:
            length = rng.randint(half(lo), half(hi))
        else:
            length = half(prev_text)
        length = min(length, n - pos)
        blocks.append([mod, pos, pos + length])
        pos += length
        mod = "speech" if mod == "text" else "text"
    if len(blocks) > 1 and blocks[-1][2] - blocks[-1][1] < cfg.min_final:
        last = blocks.pop()
        blocks[-1][2] = last[2]
    return [tuple(b) for b in blocks]


def _keep_half(n: int) -> int:
    return n - n // 2


def document_speech_span(doc, a: int, b: int) -> Span:
    """Speech span of words [a, b) of a Document (see PaperInterleaveConfig for silences)."""
    offs = doc.seg_offsets()
    widx = [i for i, (w, _) in enumerate(doc.segs) if w != SIL]
    first, last = widx[a], widx[b - 1]  # segment indices of the span's first/last word
    pieces: List[Tuple[int, int]] = []  # (unit start, unit end) per kept segment
    if first > 0 and doc.segs[first - 1][0] == SIL:  # silence before the span
        s, e = offs[first - 1], offs[first]
        pieces.append((s, e) if a == 0 else (e - _keep_half(e - s), e))
    for i in range(first, last + 1):
        pieces.append((offs[i], offs[i + 1]))
    if last + 1 < len(doc.segs) and doc.segs[last + 1][0] == SIL:  # silence after it
        s, e = offs[last + 1], offs[last + 2]
        pieces.append((s, e) if b == len(doc.words) else (s, s + _keep_half(e - s)))
    pieces = [(s, e) for s, e in pieces if e > s]
    items = [u for s, e in pieces for u in doc.units[s:e]]
    return Span("speech", items, [e - s for s, e in pieces])


def document_text_span(doc, a: int, b: int) -> Span:
    return Span("text", [p for k in range(a, b) for p in doc.pieces[k]])


def draw_kind(doc, mix: Dict[str, float], rng: random.Random) -> str:
    """The stream of one document in one epoch; text documents are always text."""
    u = rng.random()
    if not doc.aligned:
        return "text"
    acc = 0.0
    for k in KINDS:
        acc += mix.get(k, 0.0)
        if u < acc:
            return k
    return max(KINDS, key=lambda k: mix.get(k, 0.0))


def draw_spans(doc, kind: str, cfg: PaperInterleaveConfig, rng: random.Random,
               return_plan: bool = False):
    """Spans of one sequence of the given stream kind from a Document."""
    n = len(doc.words)
    if kind == "text":
        plan = [("text", 0, n)]
    elif kind == "speech":
        plan = [("speech", 0, n)]
    elif kind == "inter":
        plan = plan_paper_blocks(n, cfg, rng)
    else:
        raise ValueError(f"unknown stream kind {kind!r}")
    spans = [document_speech_span(doc, a, b) if m == "speech" else document_text_span(doc, a, b) for m, a, b in plan]
    keep = [i for i, s in enumerate(spans) if s.items]  # a speech span of zero-frame words is empty
    spans, plan = [spans[i] for i in keep], [plan[i] for i in keep]
    return (spans, plan) if return_plan else spans


def draw_rng(seed: int, epoch: int, doc_id: str, sub: int = 0) -> random.Random:
    """The generator of one document's draw: a function of (seed, epoch, pass, doc id) only,
    identical in every process (no salted ``hash``), so a resumed run redraws the same."""
    return random.Random(f"lst-draw:{seed}:{epoch}:{sub}:{doc_id}")


def draw_statistics(docs, cfg: PaperInterleaveConfig, mix: Dict[str, float], epochs: Sequence[int] = (1,),
                    seed: int = 0) -> Dict:
    """What the draws give over ``docs`` and ``epochs``: stream shares (of aligned documents),
    the speech:text word ratio of interleaved sequences, speech units and text pieces there,
    and tokens per sequence (markers and <sos/eos> included)."""
    kinds = {k: 0 for k in KINDS}
    sw = tw = units = pieces = tokens = n = 0
    for epoch in epochs:
        for doc in docs:
            rng = draw_rng(seed, epoch, doc.doc_id)
            kind = draw_kind(doc, mix, rng)
            spans, plan = draw_spans(doc, kind, cfg, rng, return_plan=True)
            if doc.aligned:
                kinds[kind] += 1
            tokens += 2 + sum(1 + len(s.items) for s in spans)
            n += 1
            if kind == "inter":
                sw += sum(b - a for m, a, b in plan if m == "speech")
                tw += sum(b - a for m, a, b in plan if m == "text")
                units += sum(len(s.items) for s in spans if s.modality == "speech")
                pieces += sum(len(s.items) for s in spans if s.modality == "text")
    n_aligned = max(1, sum(kinds.values()))
    return {"sequences": n, "stream_share": {k: v / n_aligned for k, v in kinds.items()},
            "speech_text_word_ratio": sw / tw if tw else float("nan"),
            "interleaved_units": units, "interleaved_pieces": pieces,
            "units_share_of_interleaved": units / max(1, units + pieces), "tokens_per_sequence": tokens / max(1, n)}
