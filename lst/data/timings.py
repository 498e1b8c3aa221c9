"""Word timings (CTM-style) and their exact mapping onto discrete-unit indices.

File format (``word_ctm``, one word per line, kaldi-style utterance id first)::

    <utt_id> <word> <start_s> <end_s>

Times are in seconds from the start of the utterance's audio; words of one utterance are
listed in spoken order, ``0 <= start <= end``, and no word overlaps the next one
(``start[k+1] >= end[k]``). Gaps between words are silence (pauses at clause ends).
The words of an utterance are exactly the whitespace tokens of its ``text`` line.

Word -> unit mapping rule (exact at unit-rate resolution)
---------------------------------------------------------
Unit ``i`` of an utterance covers ``[i / rate, (i + 1) / rate)`` seconds (``rate`` =
``unit_rate_hz`` from ``unit_info.json``); its centre is ``c_i = (i + 0.5) / rate``.
Unit ``i`` belongs to word ``k`` iff ``start_k <= c_i < end_k``. Every other unit belongs to
the silence gap it falls in (before the first word, between two words, after the last word).
So each word owns the half-open index range ``[a_k, b_k)`` with ``a_k`` = the first unit whose
centre is ``>= start_k`` and ``b_k`` = the first unit whose centre is ``>= end_k``; ranges are
disjoint, in order, and together with the gaps they partition ``[0, n_units)``.
A word shorter than one unit may own no unit at all (``a_k == b_k``); :func:`alignment_segments`
then merges it into the neighbouring word's segment, so no segment is empty.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

# timings may run past the last unit by this much (feature framing drops a partial frame)
DEFAULT_TAIL_TOLERANCE_S = 0.1


class TimingError(ValueError):
    """Bad or inconsistent word timings; the message names the file/line or utterance."""


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A run of units that is one word (or several words too short to own a unit) or a gap."""

    kind: str  # "word" or "sil"
    start: int  # first unit index
    end: int  # one past the last unit index
    words: Tuple[int, ...] = ()  # word indices covered (empty for "sil")

    def __len__(self) -> int:
        return self.end - self.start


def validate_timings(utt: str, timings: Sequence[WordTiming], where: str = "") -> None:
    """Raise TimingError (naming the utterance) on negative, reversed or overlapping timings."""
    prefix = f"{where}: " if where else ""
    prev_end, prev_word = None, None
    for k, wt in enumerate(timings):
        if not (np.isfinite(wt.start) and np.isfinite(wt.end)):
            raise TimingError(f"{prefix}utterance {utt}: word {k} {wt.word!r} has a non-finite time")
        if wt.start < 0 or wt.end < wt.start:
            raise TimingError(
                f"{prefix}utterance {utt}: word {k} {wt.word!r} has bad times start={wt.start} end={wt.end}"
            )
        if prev_end is not None and wt.start < prev_end - 1e-6:
            raise TimingError(
                f"{prefix}utterance {utt}: overlapping timings: word {k} {wt.word!r} starts at {wt.start} "
                f"before word {k - 1} {prev_word!r} ends at {prev_end}"
            )
        prev_end, prev_word = wt.end, wt.word


def read_ctm(path, validate: bool = True) -> Dict[str, List[WordTiming]]:
    """Read a word_ctm file into {utt: [WordTiming, ...]} (order of first appearance kept).

    Lines of one utterance must be contiguous. Errors name ``path:line``.
    """
    path = Path(path)
    out: Dict[str, List[WordTiming]] = {}
    first_line: Dict[str, int] = {}
    last_utt = None
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            where = f"{path}:{lineno}"
            if len(fields) != 4:
                raise TimingError(f"{where}: expected 'utt word start end', got {len(fields)} fields: {line.rstrip()!r}")
            utt, word, s, e = fields
            try:
                start, end = float(s), float(e)
            except ValueError:
                raise TimingError(f"{where}: utterance {utt}: start/end are not numbers: {s!r} {e!r}") from None
            if utt != last_utt and utt in out:
                raise TimingError(
                    f"{where}: utterance {utt} appears again after other utterances (first at line {first_line[utt]}); "
                    "keep each utterance's words together"
                )
            if utt not in out:
                out[utt] = []
                first_line[utt] = lineno
            wt = WordTiming(word, start, end)
            if validate:
                try:
                    validate_timings(utt, out[utt][-1:] + [wt])
                except TimingError as err:
                    raise TimingError(f"{where}: {err}") from None
            out[utt].append(wt)
            last_utt = utt
    return out


def write_ctm(path, timings: Dict[str, Sequence[WordTiming]], digits: int = 4) -> None:
    """Write {utt: timings} as word_ctm lines (times rounded to ``digits`` decimals)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for utt, words in timings.items():
            for wt in words:
                if any(c.isspace() for c in wt.word) or not wt.word:
                    raise TimingError(f"utterance {utt}: word {wt.word!r} is empty or contains whitespace")
                f.write(f"{utt} {wt.word} {wt.start:.{digits}f} {wt.end:.{digits}f}\n")


def read_text(path) -> Dict[str, List[str]]:
    """Kaldi ``text`` file -> {utt: [word, ...]}; errors name path:line."""
    path = Path(path)
    out: Dict[str, List[str]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            if fields[0] in out:
                raise TimingError(f"{path}:{lineno}: duplicate utterance id {fields[0]}")
            out[fields[0]] = fields[1:]
    return out


def check_words_match(utt: str, words: Sequence[str], timings: Sequence[WordTiming], where: str = "") -> None:
    """The timings must list exactly the text's words, in order; else name the first mismatch."""
    prefix = f"{where}: " if where else ""
    for k, w in enumerate(words):
        if k >= len(timings):
            raise TimingError(f"{prefix}utterance {utt}: word {k} {w!r} of the text has no timing")
        if timings[k].word != w:
            raise TimingError(
                f"{prefix}utterance {utt}: word {k} of the text is {w!r} but its timing is for {timings[k].word!r}"
            )
    if len(timings) > len(words):
        raise TimingError(
            f"{prefix}utterance {utt}: {len(timings) - len(words)} timing(s) beyond the text's {len(words)} words "
            f"(first extra: {timings[len(words)].word!r})"
        )


def boundary_errors(ref: Sequence[WordTiming], hyp: Sequence[WordTiming],
                    utt: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Signed per-word start and end errors (hyp - ref, seconds) of two timings of the same words.

    Both aligners (``lst.align.ctc_align``, ``lst.align.pocketsphinx_align``) are scored with
    this one function. The words must be the same, in order (compared case-insensitively: AN4
    transcripts are upper case, a synthesizer's words lower case); otherwise a TimingError
    names the utterance and the first mismatch, so no error is computed between different words.
    """
    name = f"utterance {utt}: " if utt else ""
    if len(ref) != len(hyp):
        raise TimingError(f"boundary_errors: {name}{len(ref)} reference words vs {len(hyp)} aligned words")
    for k, (r, h) in enumerate(zip(ref, hyp)):
        if r.word.lower() != h.word.lower():
            raise TimingError(f"boundary_errors: {name}word {k} is {r.word!r} in the reference "
                              f"but {h.word!r} in the alignment")
    return (np.asarray([h.start - r.start for r, h in zip(ref, hyp)], dtype=float),
            np.asarray([h.end - r.end for r, h in zip(ref, hyp)], dtype=float))


def boundary_error_summary(start_err: np.ndarray, end_err: np.ndarray) -> Dict[str, float]:
    """Mean/median |error| (ms) of starts, ends and both, signed means, and % within 20/40/100 ms."""
    both = np.abs(np.concatenate([start_err, end_err]))
    if not len(both):
        raise ValueError("boundary_error_summary: no word boundaries to summarise")
    out = {"n_words": int(len(start_err)),
           "mean_abs_ms": round(1000 * float(both.mean()), 1),
           "median_abs_ms": round(1000 * float(np.median(both)), 1),
           "start_mean_abs_ms": round(1000 * float(np.abs(start_err).mean()), 1),
           "end_mean_abs_ms": round(1000 * float(np.abs(end_err).mean()), 1),
           "start_mean_signed_ms": round(1000 * float(start_err.mean()), 1),
           "end_mean_signed_ms": round(1000 * float(end_err.mean()), 1)}
    for ms in (20, 40, 100):
        out[f"within_{ms}ms_pct"] = round(100 * float((both <= ms / 1000 + 1e-9).mean()), 1)
    return out


def check_ids_match(text_ids: Iterable[str], ctm_ids: Iterable[str], text_name="text", ctm_name="word_ctm") -> None:
    """Raise TimingError naming utterances present in one file but not the other."""
    a, b = set(text_ids), set(ctm_ids)
    if a != b:
        only_a, only_b = sorted(a - b), sorted(b - a)
        msg = []
        if only_a:
            msg.append(f"{len(only_a)} utterance(s) in {text_name} have no timings in {ctm_name}, e.g. {only_a[:3]}")
        if only_b:
            msg.append(f"{len(only_b)} utterance(s) in {ctm_name} are not in {text_name}, e.g. {only_b[:3]}")
        raise TimingError("utterance id mismatch: " + "; ".join(msg))


def unit_centres(n_units: int, unit_rate_hz: float) -> np.ndarray:
    return (np.arange(n_units, dtype=np.float64) + 0.5) / float(unit_rate_hz)


def word_unit_spans(
    timings: Sequence[WordTiming],
    n_units: int,
    unit_rate_hz: float,
    utt: str = "?",
    tail_tolerance_s: float = DEFAULT_TAIL_TOLERANCE_S,
) -> List[Tuple[int, int]]:
    """[(a_k, b_k)] per word: the units whose centre lies in [start_k, end_k) (module docstring).

    Raises TimingError when a word ends more than ``tail_tolerance_s`` past the last unit (the
    timings and units then describe different audio).
    """
    if unit_rate_hz <= 0:
        raise ValueError(f"unit_rate_hz must be > 0, got {unit_rate_hz}")
    audio_end = n_units / float(unit_rate_hz)
    if timings and timings[-1].end > audio_end + tail_tolerance_s:
        raise TimingError(
            f"utterance {utt}: last word {timings[-1].word!r} ends at {timings[-1].end:.3f}s but the "
            f"{n_units} units at {unit_rate_hz} Hz cover only {audio_end:.3f}s (units from other audio?)"
        )
    centres = unit_centres(n_units, unit_rate_hz)
    starts = np.searchsorted(centres, [wt.start for wt in timings], side="left")
    ends = np.searchsorted(centres, [wt.end for wt in timings], side="left")
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def alignment_segments(
    timings: Sequence[WordTiming],
    n_units: int,
    unit_rate_hz: float,
    utt: str = "?",
    tail_tolerance_s: float = DEFAULT_TAIL_TOLERANCE_S,
) -> List[Segment]:
    """Partition [0, n_units) into word and silence-gap segments, in order, none empty.

    A word owning no unit is merged into the next word's segment (the previous one for the
    last word of a run), so every word index appears in exactly one "word" segment unless the
    utterance has no word unit at all.
    """
    spans = word_unit_spans(timings, n_units, unit_rate_hz, utt=utt, tail_tolerance_s=tail_tolerance_s)
    segments: List[Segment] = []
    pending: List[int] = []  # words with no unit waiting for the next word segment
    pos = 0
    for k, (a, b) in enumerate(spans):
        if a > pos:
            segments.append(Segment("sil", pos, a))
            pos = a
        if b <= a:
            pending.append(k)
            continue
        segments.append(Segment("word", a, b, tuple(pending + [k])))
        pending = []
        pos = b
    if pending:
        last_word = next((i for i in range(len(segments) - 1, -1, -1) if segments[i].kind == "word"), None)
        if last_word is None:
            raise TimingError(f"utterance {utt}: no word is long enough to own a unit at {unit_rate_hz} Hz")
        s = segments[last_word]
        segments[last_word] = Segment("word", s.start, s.end, s.words + tuple(pending))
    if pos < n_units:
        segments.append(Segment("sil", pos, n_units))
    return segments


@dataclass(frozen=True)
class WordGroup:
    """The unit territory of one word segment, used to cut speech spans at word boundaries.

    ``words`` are the word indices of the segment (one word, or several when short words were
    merged); ``segments`` are the word segment plus the silence gap that follows it (the
    leading gap of the utterance goes with the first group), so groups tile [0, n_units).
    """

    words: Tuple[int, ...]
    start: int
    end: int
    segments: Tuple[Segment, ...]


def word_groups(segments: Sequence[Segment]) -> List[WordGroup]:
    groups: List[List[Segment]] = []
    lead: List[Segment] = []
    for seg in segments:
        if seg.kind == "word":
            groups.append(lead + [seg])
            lead = []
        elif groups:
            groups[-1].append(seg)
        else:
            lead.append(seg)
    if lead:  # only silence: no group can own it
        raise TimingError("utterance has silence segments but no word segment")
    out = []
    for g in groups:
        words = tuple(k for s in g for k in s.words)
        out.append(WordGroup(words, g[0].start, g[-1].end, tuple(g)))
    return out


def unit_segments(
    timings: Sequence[WordTiming],
    n_units: int,
    unit_rate_hz: float,
    where: str = "",
    tail_tolerance_s: float = DEFAULT_TAIL_TOLERANCE_S,
) -> List[int]:
    """Lengths of the word / silence-gap segments of a whole utterance (sum == n_units).

    ``where`` (e.g. "dump/raw/train/word_ctm: utt1") names the utterance in errors. This is
    what a speech span of a whole utterance carries as ``Span.segments``.
    """
    utt = where or "?"
    validate_timings(utt, timings)
    if not timings:
        raise TimingError(f"utterance {utt}: no word timings")
    return [len(s) for s in alignment_segments(timings, n_units, unit_rate_hz, utt=utt, tail_tolerance_s=tail_tolerance_s)]
