"""Word-level documents (``corpus/<set>/docs``): what the corpus keeps so that training
sequences can be drawn when batches are made (paper-style data, spec section 4.3).

One document per line, kaldi-style ``<doc_id> <json>``; the JSON object (one line, no
newline inside) has:

* ``words``: the real words, in spoken order (``[SIL]`` is never a word here);
* ``pieces``: per word, its sentencepiece pieces (the first one carries ``▁``), so the
  data loader needs no sentencepiece model;
* for a speech-text (aligned) document only:

  - ``units``: the utterance's discrete units (frame rate, not deduplicated);
  - ``segs``: the utterance as ordered segments ``[w, n]``: ``w`` = word index (every word
    once, in order) or ``-1`` for a silence gap, ``n`` = its number of units (a word shorter
    than one unit has ``n = 0``; a silence has ``n > 0``); ``sum(n) == len(units)``. The
    unit ranges follow the centre rule of ``lst/data/timings.py``;
  - ``times``: per word ``[start_s, end_s]`` (the word timings, kept for reference).

A document without ``units`` is a text document (only ever drawn as text). Example::

    utt7 {"words":["he","went"],"pieces":[["▁he"],["▁w","ent"]],"units":[3,3,9,9,9,4,1],
          "segs":[[-1,1],[0,2],[1,3],[-1,1]],"times":[[0.04,0.12],[0.12,0.24]]}

:func:`read_documents` / :func:`parse_document` raise :class:`DocumentError` with a one-line
message naming ``file:line`` (or the document id).

Long documents (:func:`split_document`): a document whose worst-case sequence (every word in
the modality that costs more tokens, a marker per word, plus ``<sos/eos>`` twice) would be
longer than the model's ``max_len`` is cut at word boundaries into parts ``<id>-p1``,
``<id>-p2``, ... so no draw can exceed ``max_len``.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

SIL = -1


class DocumentError(ValueError):
    """A malformed document line; the message names file:line or the document id."""


@dataclass
class Document:
    doc_id: str
    words: List[str]
    pieces: List[List[str]]
    units: Optional[List[int]] = None  # None: a text document
    segs: List[Tuple[int, int]] = field(default_factory=list)  # [(word index or SIL, n units)]
    times: Optional[List[Tuple[float, float]]] = None

    @property
    def aligned(self) -> bool:
        return self.units is not None

    def to_json(self) -> str:
        d = {"words": self.words, "pieces": self.pieces}
        if self.aligned:
            d["units"] = [int(u) for u in self.units]
            d["segs"] = [[int(w), int(n)] for w, n in self.segs]
            if self.times is not None:
                d["times"] = [[round(float(s), 4), round(float(e), 4)] for s, e in self.times]
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    def line(self) -> str:
        return f"{self.doc_id} {self.to_json()}"

    def seg_offsets(self) -> List[int]:
        """Start unit index of each segment (len(segs) + 1 entries, last = len(units))."""
        out = [0]
        for _, n in self.segs:
            out.append(out[-1] + n)
        return out

    def worst_case_tokens(self, lo: int = 0, hi: Optional[int] = None) -> int:
        """Upper bound on the tokens of any sequence drawn from words [lo, hi) (see module doc)."""
        hi = len(self.words) if hi is None else hi
        return 2 + sum(1 + c for c in self.word_costs()[lo:hi])

    def word_costs(self) -> List[int]:
        """Per word: max(its text pieces, its units + the silences on both sides of it): the
        most tokens the word can add to a sequence. A silence between two words is charged to
        both, because a speech span that starts (or ends) next to it keeps half of its frames
        while the word on the other side may be text."""
        speech = [0] * len(self.words)
        if self.aligned:
            prev, pending = None, 0  # last word seen; silence since it
            for w, n in self.segs:
                if w == SIL:
                    pending += n
                    if prev is not None:
                        speech[prev] += n
                else:
                    speech[w] += n + pending
                    prev, pending = w, 0
        return [max(len(p), s) for p, s in zip(self.pieces, speech)]


def validate_document(doc: Document, where: str) -> Document:
    """Check the invariants of the format; DocumentError(where: ...) on the first violation."""
    if not doc.words:
        raise DocumentError(f"{where}: no words")
    if len(doc.pieces) != len(doc.words):
        raise DocumentError(f"{where}: {len(doc.words)} words but {len(doc.pieces)} piece lists")
    for k, p in enumerate(doc.pieces):
        if not p or not all(isinstance(x, str) and x and not any(c.isspace() for c in x) for x in p):
            raise DocumentError(f"{where}: word {k} {doc.words[k]!r} has bad pieces {p!r}")
    if not doc.aligned:
        return doc
    if not all(isinstance(u, int) and u >= 0 for u in doc.units):
        raise DocumentError(f"{where}: units must be non-negative integers")
    expect = 0
    for i, s in enumerate(doc.segs):
        if not (isinstance(s, (list, tuple)) and len(s) == 2 and all(isinstance(x, int) for x in s)):
            raise DocumentError(f"{where}: segment {i} {s!r} is not [word_index, n_units]")
        w, n = s
        if w == SIL:
            if n <= 0:
                raise DocumentError(f"{where}: silence segment {i} has {n} units (must be > 0)")
        elif w != expect:
            raise DocumentError(f"{where}: segment {i} is word {w}, expected word {expect} (every word once, in order)")
        elif n < 0:
            raise DocumentError(f"{where}: segment {i} (word {w}) has {n} units")
        else:
            expect += 1
    if expect != len(doc.words):
        raise DocumentError(f"{where}: segments cover {expect} of {len(doc.words)} words")
    total = sum(n for _, n in doc.segs)
    if total != len(doc.units):
        raise DocumentError(f"{where}: segments hold {total} units but the document has {len(doc.units)}")
    if doc.times is not None and len(doc.times) != len(doc.words):
        raise DocumentError(f"{where}: {len(doc.times)} timings for {len(doc.words)} words")
    return doc


def parse_document(doc_id: str, text: str, where: str = "") -> Document:
    """``<json>`` (the part after the id) -> Document; errors name ``where`` (file:line or id)."""
    where = where or doc_id
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise DocumentError(f"{where}: document {doc_id}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(d, dict) or "words" not in d or "pieces" not in d:
        raise DocumentError(f"{where}: document {doc_id}: a JSON object with 'words' and 'pieces' is required")
    aligned = "units" in d
    if aligned and "segs" not in d:
        raise DocumentError(f"{where}: document {doc_id}: 'units' without 'segs'")
    try:
        doc = Document(
            doc_id, list(d["words"]), [list(p) for p in d["pieces"]],
            units=list(d["units"]) if aligned else None,
            segs=[tuple(s) if isinstance(s, list) else s for s in d.get("segs", [])],
            times=[tuple(t) for t in d["times"]] if aligned and "times" in d else None,
        )
    except TypeError as e:
        raise DocumentError(f"{where}: document {doc_id}: bad field type ({e})") from None
    return validate_document(doc, f"{where}: document {doc_id}")


def iter_documents(path) -> Iterator[Document]:
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(maxsplit=1)
            if len(parts) != 2:
                raise DocumentError(f"{path}:{lineno}: expected '<doc_id> <json>'")
            yield parse_document(parts[0], parts[1], where=f"{path}:{lineno}")


def read_documents(path) -> Dict[str, Document]:
    out: Dict[str, Document] = {}
    for doc in iter_documents(path):
        if doc.doc_id in out:
            raise DocumentError(f"{path}: duplicate document id {doc.doc_id}")
        out[doc.doc_id] = doc
    return out


def is_document_line(value: str) -> bool:
    """A corpus value is a document (JSON) rather than a pre-built sequence (``<t>``/``<s>``)."""
    return value.lstrip().startswith("{")


# ------------------------------------------------------------------------- building
def aligned_document(doc_id: str, words: Sequence[str], pieces: Sequence[Sequence[str]], units: Sequence[int],
                     spans: Sequence[Tuple[int, int]], times=None) -> Document:
    """From per-word unit ranges ``[a_k, b_k)`` (``lst.data.timings.word_unit_spans``)."""
    segs: List[Tuple[int, int]] = []
    pos = 0
    for k, (a, b) in enumerate(spans):
        a, b = max(a, pos), max(b, pos)
        if a > pos:
            segs.append((SIL, a - pos))
        segs.append((k, b - a))
        pos = b
    if pos < len(units):
        segs.append((SIL, len(units) - pos))
    doc = Document(doc_id, list(words), [list(p) for p in pieces], [int(u) for u in units], segs,
                   [(t.start, t.end) for t in times] if times is not None else None)
    return validate_document(doc, f"document {doc_id}")


def text_document(doc_id: str, words: Sequence[str], pieces: Sequence[Sequence[str]]) -> Document:
    return validate_document(Document(doc_id, list(words), [list(p) for p in pieces]), f"document {doc_id}")


def sub_document(doc: Document, lo: int, hi: int, doc_id: str) -> Document:
    """Words [lo, hi) with their units: each silence goes with the word before it (the leading
    silence with the first word)."""
    if not doc.aligned:
        return Document(doc_id, doc.words[lo:hi], doc.pieces[lo:hi])
    offs = doc.seg_offsets()
    idx = [i for i, (w, _) in enumerate(doc.segs) if w != SIL]
    first = 0 if lo == 0 else idx[lo]
    last = len(doc.segs) if hi == len(doc.words) else idx[hi]
    segs = [((w - lo) if w != SIL else SIL, n) for w, n in doc.segs[first:last]]
    units = doc.units[offs[first]:offs[last]]
    times = doc.times[lo:hi] if doc.times is not None else None
    return Document(doc_id, doc.words[lo:hi], doc.pieces[lo:hi], units, segs, times)


def split_document(doc: Document, max_len: int) -> List[Document]:
    """Cut at word boundaries so every part's worst case fits ``max_len`` tokens (module doc).
    A single word that alone exceeds it raises DocumentError (nothing sensible to keep)."""
    if not max_len or doc.worst_case_tokens() <= max_len:
        return [doc]
    costs = doc.word_costs()
    cuts, total = [0], 2
    for k, c in enumerate(costs):
        if 3 + c > max_len:
            raise DocumentError(f"document {doc.doc_id}: word {k} {doc.words[k]!r} alone needs {3 + c} tokens "
                                f"> max_len {max_len}")
        if total + 1 + c > max_len:
            cuts.append(k)
            total = 2
        total += 1 + c
    cuts.append(len(costs))
    return [sub_document(doc, a, b, f"{doc.doc_id}-p{i + 1}") for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
