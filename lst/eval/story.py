"""Story-completion scoring: which ending does a speech-text LM find more likely?

Benchmark file (JSON lines, one item per line; written by the StoryCloze recipe's ``local/make_story_benchmark.py``)::

    {"id": "sc935e0b73a5-cloze-S2T", "form": "cloze", "mode": "S->T",
     "context": "<s> 12 12 45 | 45 67 ...",
     "endings": ["<t> ▁Eventually ▁T r ish ...", "<t> ▁The ▁fish ..."],
     "label": 0}

``context`` and each ending are item strings in the corpus format of
:mod:`lst.data.sequence_format` and each starts with its modality marker (``<t>``/``<s>``).
``label`` is the index of the right ending. ``form`` is ``cloze`` (right vs wrong fifth
sentence as written in StoryCloze) or ``topic`` (right ending vs the right ending of another
held-out story, TWIST's tStoryCloze); ``mode`` is ``S->S``, ``T->T``, ``S->T`` or ``T->S``
(context modality -> ending modality). Extra keys (e.g. ``story_id``) are kept but unused.

Modality markers at the context/ending junction (:func:`join_context_ending`):

* same modality (S->S, T->T): the ending's marker is dropped, the ending continues the
  context's span, as the fifth sentence does in a training story (one speech span or one text
  span per story). For speech, a segment boundary ``|`` is put before the ending's first unit
  (the ending starts a new word; aligned patching then starts a new patch there, static
  patching ignores it);
* different modality (S->T, T->S): the ending's marker is kept, as at a modality switch of
  an interleaved / s2t / t2s training sequence. The marker is identical for both endings and
  is *conditioning*, not scored.

Score of an ending = log p(ending | context) summed over the ending's own units or BPE
tokens only (``raw``); the closing ``<sos/eos>`` and any marker are not scored. ``norm`` is
the same sum divided by the number of scored positions (mean log-prob per unit/token), which
removes the advantage of short endings; both are reported. An item is correct when its
label ending scores strictly higher; an exact tie counts 0.5 (expected accuracy of a random
tie break). Scoring goes through ``model.token_logprobs(seq, seq_lengths, seg_start)`` only,
so the token baseline and LST are scored by identical code.
"""
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from lst.data.batch import collate_sequences
from lst.data.sequence_format import SEGMENT_BOUNDARY, SequenceFormatError, parse_sequence
from lst.eval.benchmark import json_objects
from lst.eval.stats import accuracy_summary
from lst.vocab import SPEECH_MARK, TEXT_MARK, SpeechTextVocab

FORMS = ("cloze", "topic")
MODES = ("S->S", "T->T", "S->T", "T->S")
MARKER_OF = {"S": SPEECH_MARK, "T": TEXT_MARK}
RULES = ("raw", "norm")


class BenchmarkError(ValueError):
    pass


@dataclass
class StoryItem:
    id: str
    form: str
    mode: str
    context: str
    endings: List[str]
    label: int
    extra: Dict = field(default_factory=dict)


def _last_marker(items: Sequence[str]) -> str:
    for it in reversed(items):
        if it in (TEXT_MARK, SPEECH_MARK):
            return it
    return ""


def join_context_ending(context: str, ending: str, where: str = "") -> str:
    """The scored sequence's item string (see the module docstring for the junction rule)."""
    ctx, end = context.split(), ending.split()
    if not ctx or ctx[0] not in (TEXT_MARK, SPEECH_MARK):
        raise BenchmarkError(f"{where}: context must start with {TEXT_MARK} or {SPEECH_MARK}")
    if len(end) < 2 or end[0] not in (TEXT_MARK, SPEECH_MARK):
        raise BenchmarkError(f"{where}: ending must be a modality marker followed by items, got {ending[:40]!r}")
    if end[0] == _last_marker(ctx):
        rest = end[1:]
        if end[0] == SPEECH_MARK and rest[0] != SEGMENT_BOUNDARY:
            rest = [SEGMENT_BOUNDARY] + rest
        return " ".join(ctx + rest)
    return " ".join(ctx + end)


def read_benchmark(path) -> List[StoryItem]:
    """Reads and checks a benchmark file; errors name the file, line and item id."""
    items, seen = [], set()
    hint = " (make it with egs/storycloze/lst1/local/story_benchmark.sh)"
    for where, d in json_objects(path, hint, error=BenchmarkError):
        missing = [k for k in ("id", "form", "mode", "context", "endings", "label") if k not in d]
        if missing:
            raise BenchmarkError(f"{where} (item {d.get('id', '?')}): missing keys {missing}")
        where = f"{where} (item {d['id']})"
        if d["id"] in seen:
            raise BenchmarkError(f"{where}: duplicate item id")
        seen.add(d["id"])
        if d["mode"] not in MODES:
            raise BenchmarkError(f"{where}: mode {d['mode']!r} not one of {MODES}")
        ends = d["endings"]
        if not isinstance(ends, list) or len(ends) < 2 or not all(isinstance(e, str) for e in ends):
            raise BenchmarkError(f"{where}: endings must be a list of >= 2 item strings")
        if not isinstance(d["label"], int) or not 0 <= d["label"] < len(ends):
            raise BenchmarkError(f"{where}: label {d['label']!r} is not an index into endings")
        c_mod, e_mod = d["mode"].split("->")
        if not isinstance(d["context"], str) or d["context"].split()[:1] != [MARKER_OF[c_mod]]:
            raise BenchmarkError(f"{where}: mode {d['mode']} needs a context starting with {MARKER_OF[c_mod]}")
        for k, e in enumerate(ends):
            if e.split()[:1] != [MARKER_OF[e_mod]]:
                raise BenchmarkError(f"{where}: mode {d['mode']} needs ending {k} to start with {MARKER_OF[e_mod]}")
        extra = {k: v for k, v in d.items() if k not in ("id", "form", "mode", "context", "endings", "label")}
        items.append(StoryItem(d["id"], d["form"], d["mode"], d["context"], list(ends), d["label"], extra))
    if not items:
        raise BenchmarkError(f"{path}: no items")
    return items


def write_benchmark(items: Sequence[StoryItem], path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for it in items:
            d = dict(id=it.id, form=it.form, mode=it.mode, context=it.context, endings=it.endings, label=it.label)
            d.update(it.extra)
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def _prepare(item: StoryItem, k: int, vocab: SpeechTextVocab, where: str):
    """-> (ids, seg_start, n_scored) of context + ending k; checks the scored ids are the ending's."""
    ending = item.endings[k]
    joined = join_context_ending(item.context, ending, where)
    try:
        parse_sequence(item.context, vocab, where=f"{where} context")
        end_ids, _ = parse_sequence(ending, vocab, where=f"{where} ending {k}")
        ids, seg = parse_sequence(joined, vocab, where=f"{where} context+ending {k}")
    except SequenceFormatError as e:
        raise BenchmarkError(str(e)) from None
    return ids, seg, scored_length(ids, end_ids, f"{where}: ending {k}")


def scored_length(ids: np.ndarray, end_ids: np.ndarray, what: str) -> int:
    """How many positions of ``ids`` (context + ending, as parsed) are scored: the ending's
    own ids (``end_ids`` parsed alone, less ``<sos/eos>``, its marker and the closing
    ``<sos/eos>``), checked to be the tail of ``ids`` before its closing ``<sos/eos>``."""
    content = end_ids[2:-1]
    n = len(content)
    if n == 0:
        raise BenchmarkError(f"{what} has no units/tokens")
    if not np.array_equal(ids[len(ids) - 1 - n : len(ids) - 1], content):
        raise BenchmarkError(f"{what} is not the tail of the joined sequence (junction bug)")
    return n


@torch.no_grad()
def score_items(model, vocab: SpeechTextVocab, items: Sequence[StoryItem], batch_size: int = 16,
                where: str = "") -> List[Dict]:
    """Per item: {"id", "form", "mode", "label", "raw": [..], "norm": [..], "n_scored": [..]}.

    All (item, ending) sequences are sorted by length and scored in batches through
    ``model.token_logprobs``; the score of an ending is its log-probs summed over its
    ``n_scored`` positions (just before the closing ``<sos/eos>``).
    """
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    seqs = []  # (item index, ending index, ids, seg, n)
    for i, it in enumerate(items):
        for k in range(len(it.endings)):
            ids, seg, n = _prepare(it, k, vocab, f"{where}item {it.id}")
            seqs.append((i, k, ids, seg, n))
    order = sorted(range(len(seqs)), key=lambda j: -len(seqs[j][2]))
    raw = [[0.0] * len(it.endings) for it in items]
    n_scored = [[0] * len(it.endings) for it in items]
    try:
        for start in range(0, len(order), batch_size):
            chunk = [seqs[j] for j in order[start : start + batch_size]]
            _, batch = collate_sequences([(str(j), {"seq": c[2], "seg_start": c[3]}) for j, c in enumerate(chunk)])
            batch = {k: v.to(device) for k, v in batch.items()}
            logp = model.token_logprobs(batch["seq"], batch["seq_lengths"], batch["seg_start"]).cpu()
            for b, (i, k, ids, _, n) in enumerate(chunk):
                L = len(ids)
                raw[i][k] = float(logp[b, L - 1 - n : L - 1].double().sum())
                n_scored[i][k] = n
    finally:
        model.train(was_training)
    out = []
    for i, it in enumerate(items):
        out.append(dict(id=it.id, form=it.form, mode=it.mode, label=it.label, raw=raw[i],
                        norm=[r / n for r, n in zip(raw[i], n_scored[i])], n_scored=n_scored[i]))
    return out


def item_correct(scores: Sequence[float], label: int) -> float:
    """1 if the label ending is the unique best, 0.5 / 1/m for an m-way tie at the top, else 0."""
    best = max(scores)
    top = [k for k, s in enumerate(scores) if s == best]
    return 1.0 / len(top) if label in top else 0.0


def summarize(scored: Sequence[Dict], ci_method: str = "wilson") -> Dict:
    """{"<form>/<mode>": {"raw": accuracy summary, "norm": ..., "n": n}, ..., "all": ...}."""
    groups: Dict[str, List[Dict]] = defaultdict(list)
    for r in scored:
        groups[f"{r['form']}/{r['mode']}"].append(r)
    groups_sorted = sorted(groups, key=lambda g: (FORMS.index(g.split("/")[0]) if g.split("/")[0] in FORMS else 9,
                                                    MODES.index(g.split("/")[1])))
    out = {}
    for g in groups_sorted + ["all"]:
        rows = scored if g == "all" else groups[g]
        entry = {"n": len(rows)}
        for rule in RULES:
            entry[rule] = accuracy_summary([item_correct(r[rule], r["label"]) for r in rows], ci_method)
            entry[rule]["ties"] = sum(1 for r in rows if len(set(r[rule])) < len(r[rule]))
        entry["raw_norm_disagree"] = sum(
            1 for r in rows if int(np.argmax(r["raw"])) != int(np.argmax(r["norm"])))
        out[g] = entry
    return out


def evaluate_benchmark(model, vocab: SpeechTextVocab, path, batch_size: int = 16,
                       ci_method: str = "wilson") -> Tuple[Dict, List[Dict]]:
    items = read_benchmark(path)
    scored = score_items(model, vocab, items, batch_size, where=f"{path}: ")
    return summarize(scored, ci_method), scored
