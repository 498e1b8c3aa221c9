"""Benchmarks as data: the item format and the builders (Story Cloze, Topic Story Cloze, BLiMP,
HellaSwag) for text and spoken modes.

Item file (JSON lines, one item per line; written by ``lst.bin.make_benchmark``, scored by
``lst.eval.scorer``)::

    {"id": "sc-sc935e0b73a5-S2T", "benchmark": "sc", "mode": "S->T", "label": 0,
     "context": {"text": "Rick grew up ...", "items": "<s> 12 12 45 | 45 67 ...",
                 "audio": "dump/bench/wav/u1a2b.wav", "units": [12, 12, 45, 45, 67, ...],
                 "words": [["Rick", 0.12, 0.41], ...], "unit_rate_hz": 25.0, "voice": "en-029+f4", "rate": 160},
     "candidates": [{"text": "He is happy now.", "items": "<t> ▁He ▁is ▁happy ▁now."}, {...}],
     "meta": {"story_id": "sc935e0b73a5"}}

* ``benchmark``: ``sc`` (Story Cloze: right vs wrong fifth sentence), ``tsc`` (Topic Story Cloze:
  right ending vs the right ending of another held-out story), ``blimp`` (grammatical vs
  ungrammatical sentence, empty context; ``meta.field`` / ``meta.paradigm`` give the breakdown),
  ``hellaswag`` (4 endings).
* ``mode``: context modality -> candidate modality (``S->S``, ``T->T``, ``S->T``, ``T->S``).
  BLiMP has no context; its two modes ``S->S`` / ``T->T`` mean "spoken" / "written" sentences.
* ``context``: a *part* or ``null`` (empty context: BLiMP). ``candidates``: 2..N parts; ``label``
  indexes the right one. A part always has ``text`` and ``items`` (the corpus item string of
  :mod:`lst.data.sequence_format`, starting with its modality marker; that is what the scorer
  reads). A spoken part also has ``audio`` (wav path), ``units`` (unit ids of the recipe's
  k-means model), ``words`` (synthesizer word timings, seconds), ``unit_rate_hz``, ``voice`` and
  ``rate``; its ``items`` carry the word/silence segments (``|``) from those timings.
* Every context and every candidate of a spoken item is its own utterance (the paper's
  sHellaSwag recipe: context and endings are spoken separately and concatenated at scoring).

The builders are pure: :func:`storycloze_items`, :func:`topic_items`, :func:`blimp_items`,
:func:`hellaswag_items` turn source data into *text items* (context text, candidate texts,
label, meta), and :func:`render_items` turns text items into items of the chosen modes, given
a text encoder and the spoken parts (made by the CLI: espeak-ng in the held-out voice, then
the recipe's own feature + k-means pipeline).
"""
import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from lst.data.sequence_format import Span, format_sequence
from lst.data.timings import WordTiming, unit_segments
from lst.vocab import SPEECH_MARK, TEXT_MARK

BENCHMARKS = ("sc", "tsc", "blimp", "hellaswag")
MODES = ("S->S", "T->T", "S->T", "T->S")
BENCHMARK_MODES = {"sc": MODES, "tsc": MODES, "hellaswag": MODES, "blimp": ("S->S", "T->T")}
MARKER_OF = {"S": SPEECH_MARK, "T": TEXT_MARK}
SPOKEN_KEYS = ("audio", "units", "words", "unit_rate_hz")
MODE_TAG = {m: m.replace("->", "2") for m in MODES}

SC_CONTEXT_COLS = [f"InputSentence{i}" for i in range(1, 5)]
SC_ENDING_COLS = ["RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2"]
SC_ANSWER_COL = "AnswerRightEnding"


class BenchmarkFormatError(ValueError):
    """A bad source row or item line; the message names the file, line and item."""


@dataclass
class TextItem:
    """A benchmark item before rendering: texts only (``context`` "" = no context)."""

    id: str
    benchmark: str
    context: str
    candidates: List[str]
    label: int
    meta: Dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- sources
def story_id(first_sentence: str) -> str:
    """Story id from its first sentence (same rule as the StoryCloze recipe's local/synth_stories.py)."""
    return "sc" + hashlib.sha256(first_sentence.strip().lower().encode("utf-8")).hexdigest()[:10]


def read_storycloze(paths: Sequence) -> List[Dict]:
    """Labelled Story Cloze csv files -> stories {story_id, context [4], endings [2], label 0/1},
    in file order, a story that appears in several files kept once (first occurrence)."""
    stories, seen = [], set()
    for path in paths:
        path = Path(path)
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in SC_CONTEXT_COLS + SC_ENDING_COLS + [SC_ANSWER_COL] if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkFormatError(f"{path}: missing columns {missing} (a labelled Story Cloze csv?)")
            for lineno, row in enumerate(reader, 2):
                ctx = [(row[c] or "").strip() for c in SC_CONTEXT_COLS]
                ends = [(row[c] or "").strip() for c in SC_ENDING_COLS]
                if not all(ctx) or not all(ends):
                    raise BenchmarkFormatError(f"{path}:{lineno}: empty sentence")
                if row[SC_ANSWER_COL] not in ("1", "2"):
                    raise BenchmarkFormatError(f"{path}:{lineno}: {SC_ANSWER_COL} must be 1 or 2, got {row[SC_ANSWER_COL]!r}")
                sid = story_id(ctx[0])
                if sid in seen:
                    continue
                seen.add(sid)
                stories.append({"story_id": sid, "context": ctx, "endings": ends, "label": int(row[SC_ANSWER_COL]) - 1})
    return stories


def json_objects(path, missing_hint: str = "", error=None) -> Iterator[Tuple[str, Dict]]:
    """(``file:line``, object) per non-blank line of a JSON-lines file; a missing file, a line
    that is not JSON or not a JSON object raises ``error`` (default BenchmarkFormatError)
    naming it."""
    error = error or BenchmarkFormatError
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: not found{missing_hint}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{where}: not JSON ({e})") from None
            if not isinstance(d, dict):
                raise error(f"{where}: expected a JSON object")
            yield where, d


def read_jsonl(path, required: Sequence[str]) -> List[Dict]:
    out = []
    for where, d in json_objects(path):
        missing = [k for k in required if k not in d]
        if missing:
            raise BenchmarkFormatError(f"{where}: missing keys {missing}")
        d["_where"] = where
        out.append(d)
    return out


# ----------------------------------------------------------------------------- builders
def storycloze_items(stories: Sequence[Dict]) -> List[TextItem]:
    """Cloze form: the four context sentences, the two written fifth sentences, the label."""
    return [TextItem(f"sc-{s['story_id']}", "sc", " ".join(s["context"]), list(s["endings"]), int(s["label"]),
                     {"story_id": s["story_id"]}) for s in stories]


def topic_items(stories: Sequence[Dict], seed: int = 0) -> List[TextItem]:
    """Topic form (TWIST's tStoryCloze): the right ending vs the right ending of another story
    drawn with ``random.Random(seed)``; the right ending's position is drawn with the same
    generator (the same draw as ``topic_pairs`` in the StoryCloze recipe's local/make_story_benchmark.py)."""
    if len(stories) < 2:
        raise BenchmarkFormatError("topic form needs at least 2 stories")
    rng = random.Random(seed)
    out = []
    for i, s in enumerate(stories):
        j = rng.randrange(len(stories) - 1)
        j += j >= i
        label = rng.randrange(2)
        o = stories[j]
        right, other = s["endings"][s["label"]], o["endings"][o["label"]]
        cands = [right, other] if label == 0 else [other, right]
        out.append(TextItem(f"tsc-{s['story_id']}", "tsc", " ".join(s["context"]), cands, label,
                            {"story_id": s["story_id"], "distractor_story": o["story_id"]}))
    return out


def blimp_items(rows: Sequence[Dict], seed: int = 0) -> List[TextItem]:
    """BLiMP pairs: the two sentences as candidates, empty context; the grammatical one's
    position is drawn with ``random.Random(seed)`` (no position bias). meta: field, paradigm
    (BLiMP's UID), linguistics_term, pair_id."""
    rng = random.Random(seed)
    out, seen = [], set()
    for r in rows:
        where = r.get("_where", "?")
        good, bad = str(r["sentence_good"]).strip(), str(r["sentence_bad"]).strip()
        if not good or not bad:
            raise BenchmarkFormatError(f"{where}: empty sentence")
        iid = f"blimp-{r['UID']}-{r.get('pairID', len(out))}"
        if iid in seen:
            raise BenchmarkFormatError(f"{where}: duplicate pair {iid}")
        seen.add(iid)
        label = rng.randrange(2)
        out.append(TextItem(iid, "blimp", "", [good, bad] if label == 0 else [bad, good], label,
                            {"field": r["field"], "paradigm": r["UID"], "linguistics_term": r.get("linguistics_term"),
                             "pair_id": str(r.get("pairID"))}))
    return out


def hellaswag_items(rows: Sequence[Dict]) -> List[TextItem]:
    """HellaSwag: context, the 4 endings, the label (0-3); meta: activity_label, ind."""
    out = []
    for r in rows:
        where = r.get("_where", "?")
        ends = [str(e).strip() for e in r["endings"]]
        if len(ends) < 2 or not all(ends) or not str(r["ctx"]).strip():
            raise BenchmarkFormatError(f"{where}: empty context or ending")
        label = int(r["label"])
        if not 0 <= label < len(ends):
            raise BenchmarkFormatError(f"{where}: label {label} not an index into {len(ends)} endings")
        out.append(TextItem(f"hellaswag-{r['ind']}", "hellaswag", str(r["ctx"]).strip(), ends, label,
                            {"activity_label": r.get("activity_label"), "ind": r["ind"]}))
    return out


def build_text_items(benchmark: str, source: Sequence, seed: int = 0, n_items: int = -1) -> List[TextItem]:
    """Text items of one benchmark from its source file(s): sc/tsc: Story Cloze csv files;
    blimp: blimp_dev.jsonl; hellaswag: hellaswag_dev.jsonl. ``n_items`` >= 0 keeps the first N
    (Topic Story Cloze draws its distractors among the kept stories)."""
    if benchmark in ("sc", "tsc"):
        stories = read_storycloze(source)
        if n_items >= 0:
            stories = stories[:n_items]
        return storycloze_items(stories) if benchmark == "sc" else topic_items(stories, seed)
    if benchmark == "blimp":
        rows = [r for p in source for r in read_jsonl(p, ("sentence_good", "sentence_bad", "field", "UID"))]
        items = blimp_items(rows, seed)
    elif benchmark == "hellaswag":
        rows = [r for p in source for r in read_jsonl(p, ("ctx", "endings", "label", "ind"))]
        items = hellaswag_items(rows)
    else:
        raise BenchmarkFormatError(f"unknown benchmark {benchmark!r} (one of {BENCHMARKS})")
    return items if n_items < 0 else spread(items, n_items, key=lambda it: it.meta.get("paradigm", ""))


def spread(items: List[TextItem], n: int, key: Callable) -> List[TextItem]:
    """The first ``n`` items taken round-robin over ``key`` groups (BLiMP: every paradigm is
    represented in a small benchmark), in a deterministic order."""
    groups: Dict[str, List[TextItem]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out, i = [], 0
    while len(out) < min(n, len(items)):
        for g in groups.values():
            if i < len(g) and len(out) < n:
                out.append(g[i])
        i += 1
    return out


# ----------------------------------------------------------------------------- rendering
def speech_key(text: str) -> str:
    """Utterance id of a spoken text (content hash: identical texts are spoken once)."""
    return "u" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:14]


def speech_texts(items: Iterable[TextItem], modes: Sequence[str]) -> Dict[str, str]:
    """{utterance id: text} of every part that some requested mode speaks."""
    out = {}
    for it in items:
        for mode in modes:
            if mode not in BENCHMARK_MODES[it.benchmark]:
                continue
            cm, em = mode.split("->")
            if cm == "S" and it.context:
                out[speech_key(it.context)] = it.context
            if em == "S":
                for c in it.candidates:
                    out[speech_key(c)] = c
    return out


def text_part(text: str, encode: Callable[[str], List[str]]) -> Dict:
    pieces = encode(text)
    if not pieces:
        raise BenchmarkFormatError(f"text {text[:40]!r} encodes to no BPE piece")
    return {"text": text, "items": TEXT_MARK + " " + " ".join(pieces)}


def render_items(items: Sequence[TextItem], modes: Sequence[str], encode: Callable[[str], List[str]],
                 speech: Optional[Dict[str, Dict]] = None) -> List[Dict]:
    """Text items x modes -> item dicts (the file format above). ``encode``: text -> BPE pieces;
    ``speech``: {speech_key(text): spoken part} for every text that a spoken mode needs.
    Modes a benchmark does not have (BLiMP: S->T, T->S) are skipped."""
    speech = speech or {}
    out = []
    for mode in modes:
        if mode not in MODES:
            raise BenchmarkFormatError(f"unknown mode {mode!r} (one of {MODES})")
        cm, em = mode.split("->")
        for it in items:
            if mode not in BENCHMARK_MODES[it.benchmark]:
                continue

            def part(text, modality):
                if modality == "T":
                    return text_part(text, encode)
                key = speech_key(text)
                if key not in speech:
                    raise BenchmarkFormatError(f"item {it.id}: no spoken part for {text[:40]!r} (utterance {key})")
                return dict(speech[key])

            ctx = part(it.context, cm) if it.context else None
            out.append({"id": f"{it.id}-{MODE_TAG[mode]}", "benchmark": it.benchmark, "mode": mode,
                        "label": it.label, "context": ctx, "candidates": [part(c, em) for c in it.candidates],
                        "meta": dict(it.meta)})
    return out


def spoken_part(text: str, units: Sequence[int], words, unit_rate_hz: float, audio: str, voice: str, rate: int,
                where: str = "") -> Dict:
    """A spoken part: units + word timings (``WordTiming`` or [word, start, end]) -> the part
    dict, whose ``items`` carry the word/silence segments (``lst.data.timings.unit_segments``)."""
    wt = [w if isinstance(w, WordTiming) else WordTiming(str(w[0]), float(w[1]), float(w[2])) for w in words]
    segs = unit_segments(wt, len(units), unit_rate_hz, where=where)
    return {"text": text, "items": format_sequence([Span("speech", [int(u) for u in units], segs)]),
            "audio": str(audio), "units": [int(u) for u in units],
            "words": [[w.word, round(w.start, 4), round(w.end, 4)] for w in wt],
            "unit_rate_hz": float(unit_rate_hz), "voice": voice, "rate": int(rate)}


# ----------------------------------------------------------------------------- file I/O
def write_items(items: Sequence[Dict], path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    tmp.replace(path)


def check_item(d: Dict, where: str) -> None:
    """Raise BenchmarkFormatError (naming ``where`` and the item) unless ``d`` is a valid item."""
    missing = [k for k in ("id", "benchmark", "mode", "label", "context", "candidates") if k not in d]
    if missing:
        raise BenchmarkFormatError(f"{where} (item {d.get('id', '?')}): missing keys {missing}")
    where = f"{where} (item {d['id']})"
    if d["benchmark"] not in BENCHMARKS:
        raise BenchmarkFormatError(f"{where}: benchmark {d['benchmark']!r} not one of {BENCHMARKS}")
    if d["mode"] not in BENCHMARK_MODES[d["benchmark"]]:
        raise BenchmarkFormatError(f"{where}: mode {d['mode']!r} not one of {BENCHMARK_MODES[d['benchmark']]}")
    cands = d["candidates"]
    if not isinstance(cands, list) or len(cands) < 2:
        raise BenchmarkFormatError(f"{where}: candidates must be a list of >= 2 parts")
    if not isinstance(d["label"], int) or not 0 <= d["label"] < len(cands):
        raise BenchmarkFormatError(f"{where}: label {d['label']!r} is not an index into {len(cands)} candidates")
    cm, em = d["mode"].split("->")
    parts = [("context", d["context"], cm)] if d["context"] is not None else []
    parts += [(f"candidate {k}", c, em) for k, c in enumerate(cands)]
    for name, p, modality in parts:
        if not isinstance(p, dict) or not isinstance(p.get("items"), str) or "text" not in p:
            raise BenchmarkFormatError(f"{where}: {name} must be a part with 'text' and 'items'")
        toks = p["items"].split()
        if len(toks) < 2 or toks[0] != MARKER_OF[modality]:
            raise BenchmarkFormatError(f"{where}: mode {d['mode']} needs {name} to be {MARKER_OF[modality]} "
                                       f"followed by items, got {p['items'][:40]!r}")
        if modality == "S":
            lack = [k for k in SPOKEN_KEYS if k not in p]
            if lack:
                raise BenchmarkFormatError(f"{where}: spoken {name} lacks {lack}")
            units = [int(t) for t in toks[1:] if t != "|"]
            if units != list(p["units"]):
                raise BenchmarkFormatError(f"{where}: spoken {name}: 'items' units differ from 'units'")


def read_items(path) -> List[Dict]:
    """Reads and checks an item file; errors name the file, line and item id."""
    items, seen = [], set()
    for where, d in json_objects(path, " (make it with lst.bin.make_benchmark)"):
        check_item(d, where)
        if d["id"] in seen:
            raise BenchmarkFormatError(f"{where} (item {d['id']}): duplicate item id")
        seen.add(d["id"])
        items.append(d)
    if not items:
        raise BenchmarkFormatError(f"{path}: no items")
    return items
