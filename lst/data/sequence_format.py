"""The corpus line format read by the LST task (``corpus/<set>/seqs``).

One sequence per line, kaldi-style ``<seq_id> <items...>``. Items are whitespace separated:

* ``<t>`` / ``<s>``: switch to text / speech (kept as modality-marker tokens).
* in text mode, each item is a sentencepiece BPE piece (``▁the``);
* in speech mode, each item is a discrete unit id (``0 <= u < K``), and ``|`` marks an
  alignment boundary: the units between two ``|`` (or a span edge) are one word or one
  silence gap. Aligned patching uses them; static patching ignores them.

Example (speech-to-text pair)::

    s2t_an4_001 <s> 12 12 45 | 45 67 7 <t> ▁the ▁cat

The sequence id prefix up to the first ``_`` names the sequence kind (``speech``, ``text``,
``s2t``, ``t2s``, ``inter``) so that evaluation can report losses per kind.
The parser turns a line into the joint-vocabulary ids plus a ``seg_start`` flag per position
(1 where a speech unit starts a new alignment segment), framed by ``<sos/eos>``.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from lst.vocab import SOS_EOS_ID, SPEECH_MARK, SPEECH_MARK_ID, TEXT_MARK, TEXT_MARK_ID, SpeechTextVocab

SEGMENT_BOUNDARY = "|"


class SequenceFormatError(ValueError):
    pass


@dataclass
class Span:
    modality: str  # "text" or "speech"
    items: List  # BPE pieces (text) or unit ints (speech)
    segments: List[int] = None  # speech only: lengths of alignment segments, sum == len(items)


def format_sequence(spans: Sequence[Span]) -> str:
    """Spans -> the item string (without the id)."""
    out = []
    for span in spans:
        if span.modality == "text":
            out.append(TEXT_MARK)
            out.extend(span.items)
        elif span.modality == "speech":
            out.append(SPEECH_MARK)
            segments = span.segments or [len(span.items)]
            if sum(segments) != len(span.items):
                raise SequenceFormatError(f"segment lengths {segments} do not sum to {len(span.items)} units")
            pos = 0
            for i, n in enumerate(segments):
                if i:
                    out.append(SEGMENT_BOUNDARY)
                out.extend(str(u) for u in span.items[pos : pos + n])
                pos += n
        else:
            raise SequenceFormatError(f"unknown modality {span.modality!r}")
    return " ".join(out)


def parse_sequence(text: str, vocab: SpeechTextVocab, where: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Item string -> (ids int64 [T], seg_start int64 [T]), framed by <sos/eos>.

    ``where`` (e.g. "corpus/train/seqs: seq_id") is put in every error message.
    """
    ids = [SOS_EOS_ID]
    seg_start = [0]
    mode = None
    new_segment = False
    for item in text.split():
        if item == TEXT_MARK:
            mode = "text"
            ids.append(TEXT_MARK_ID)
            seg_start.append(0)
        elif item == SPEECH_MARK:
            mode = "speech"
            new_segment = True
            ids.append(SPEECH_MARK_ID)
            seg_start.append(0)
        elif mode == "speech":
            if item == SEGMENT_BOUNDARY:
                new_segment = True
                continue
            try:
                unit = int(item)
            except ValueError:
                raise SequenceFormatError(f"{where}: speech item {item!r} is not a unit id") from None
            if not 0 <= unit < vocab.n_units:
                raise SequenceFormatError(
                    f"{where}: unit id {unit} out of range [0, {vocab.n_units}) (k-means size vs token_list?)"
                )
            ids.append(vocab.unit_offset + unit)
            seg_start.append(1 if new_segment else 0)
            new_segment = False
        elif mode == "text":
            ids.append(vocab.piece_id(item))
            seg_start.append(0)
        else:
            raise SequenceFormatError(f"{where}: sequence must start with {TEXT_MARK} or {SPEECH_MARK}, got {item!r}")
    if len(ids) == 1:
        raise SequenceFormatError(f"{where}: empty sequence")
    ids.append(SOS_EOS_ID)
    seg_start.append(0)
    return np.asarray(ids, dtype=np.int64), np.asarray(seg_start, dtype=np.int64)


def sequence_kind(seq_id: str) -> str:
    return seq_id.split("_", 1)[0]
