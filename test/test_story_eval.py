"""Story-completion scoring: junction rule, raw vs normalised scores, CIs, a memorised story."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from lst.eval.stats import accuracy_summary, bootstrap_interval, paired_difference, wilson_interval
from lst.eval.story import (
    BenchmarkError,
    StoryItem,
    evaluate_benchmark,
    item_correct,
    join_context_ending,
    read_benchmark,
    score_items,
    summarize,
    write_benchmark,
)
from lst.vocab import SpeechTextVocab, build_token_list

WORDS = ["▁the", "▁cat", "▁sat", "▁on", "▁mat", "▁dog", "▁ran", "▁away", "▁home", "▁a", "▁b"]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: tiny models, and no OpenMP spin-waiting on a loaded machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def vocab():
    return SpeechTextVocab(build_token_list(["<unk>"] + WORDS, n_units=12))


# --------------------------------------------------------------------------- statistics
def test_wilson_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(8, 10)  # textbook value: 0.490 .. 0.943
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def test_bootstrap_and_summary():
    scores = [1] * 30 + [0] * 20
    lo, hi = bootstrap_interval(scores, seed=1)
    assert lo < 0.6 < hi and (lo, hi) == bootstrap_interval(scores, seed=1)
    assert 0.45 < lo and hi < 0.75
    s = accuracy_summary([1, 1, 0, 0.5])
    assert s["accuracy"] == pytest.approx(0.625) and s["n"] == 4
    assert item_correct([-1.0, -1.0], 0) == 0.5 and item_correct([-1.0, -2.0], 1) == 0.0


def test_paired_difference_cancels_item_difficulty():
    # the same 100 items: b is right on 60, a on those 60 plus 10 more -> +0.10, and the paired
    # interval is far narrower than the two Wilson intervals (which overlap)
    b = [1] * 60 + [0] * 40
    a = [1] * 70 + [0] * 30
    d = paired_difference(a, b, seed=3)
    assert d["n"] == 100 and d["difference"] == pytest.approx(0.10)
    lo, hi = d["ci95"]
    assert 0.03 < lo < 0.10 < hi < 0.17 and d == paired_difference(a, b, seed=3)
    assert wilson_interval(70, 100)[0] < wilson_interval(60, 100)[1]
    same = paired_difference(b, b)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="differ in shape"):
        paired_difference([1, 0], [1])


# --------------------------------------------------------------------------- junction
def test_junction_rule():
    # same modality: the ending's marker is dropped; speech gets a segment boundary
    assert join_context_ending("<s> 1 2 | 3", "<s> 4 5") == "<s> 1 2 | 3 | 4 5"
    assert join_context_ending("<t> ▁the ▁cat", "<t> ▁sat") == "<t> ▁the ▁cat ▁sat"
    # modality switch: the marker stays
    assert join_context_ending("<t> ▁the", "<s> 4 5") == "<t> ▁the <s> 4 5"
    assert join_context_ending("<s> 1 2", "<t> ▁sat") == "<s> 1 2 <t> ▁sat"
    with pytest.raises(BenchmarkError):
        join_context_ending("<t> ▁the", "4 5")


class FixedLM(nn.Module):
    """log p(token) = table[token] whatever the context (a known answer for the scorer)."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def token_logprobs(self, seq, seq_lengths, seg_start=None):
        out = torch.zeros(seq.shape)
        for b in range(seq.shape[0]):
            for t in range(1, int(seq_lengths[b])):
                out[b, t] = self.table.get(int(seq[b, t]), -3.0)
        return out


def test_raw_and_normalised_disagree():
    v = vocab()
    table = {v.piece_id("▁mat"): -1.0, v.piece_id("▁home"): -0.5, v.unit_id(4): -2.0, v.unit_id(5): -0.1}
    items = [
        # text: short ending 2 x -1 (raw -2, mean -1) vs long ending 6 x -0.5 (raw -3, mean -0.5)
        StoryItem("t", "cloze", "T->T", "<t> ▁the ▁cat", ["<t> ▁mat ▁mat", "<t> " + " ".join(["▁home"] * 6)], 0),
        # speech: 1 x -2 (raw -2, mean -2) vs 4 x -0.1 ... raw -0.4 wins both
        StoryItem("s", "topic", "S->S", "<s> 1 2 3", ["<s> 4", "<s> 5 5 | 5 5"], 1),
    ]
    scored = score_items(FixedLM(table), v, items, batch_size=3)
    by = {r["id"]: r for r in scored}
    assert by["t"]["raw"] == pytest.approx([-2.0, -3.0]) and by["t"]["norm"] == pytest.approx([-1.0, -0.5])
    assert by["t"]["n_scored"] == [2, 6]
    assert by["s"]["raw"] == pytest.approx([-2.0, -0.4]) and by["s"]["n_scored"] == [1, 4]
    summary = summarize(scored)
    assert summary["cloze/T->T"]["raw"]["accuracy"] == 1.0
    assert summary["cloze/T->T"]["norm"]["accuracy"] == 0.0
    assert summary["cloze/T->T"]["raw_norm_disagree"] == 1
    assert summary["all"]["raw"]["accuracy"] == 1.0 and summary["all"]["norm"]["accuracy"] == 0.5


def test_bad_benchmark_lines_name_file_line_and_item(tmp_path):
    good = dict(id="x1", form="cloze", mode="T->S", context="<t> ▁the", endings=["<s> 1", "<s> 2"], label=0)
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, id="x2", label=2)) + "\n")
    with pytest.raises(BenchmarkError, match=r"b.jsonl:2 \(item x2\).*label"):
        read_benchmark(p)
    p.write_text(json.dumps(dict(good, endings=["<t> ▁a", "<s> 2"])) + "\n")
    with pytest.raises(BenchmarkError, match=r"b.jsonl:1 \(item x1\).*ending 0"):
        read_benchmark(p)
    p.write_text(json.dumps(dict(good, endings=["<s> 1", "<s> 99"])) + "\n")
    with pytest.raises(BenchmarkError, match=r"item x1 ending 1.*unit id 99"):
        score_items(FixedLM({}), vocab(), read_benchmark(p))


# --------------------------------------------------------------------------- memorised story
STORY_TEXT = "▁the ▁cat ▁sat ▁on ▁the ▁mat".split()
TRUE_END, FALSE_END = "▁the ▁cat ▁ran ▁home".split(), "▁a ▁dog ▁ran ▁away".split()
STORY_UNITS = [1, 1, 2, 3, 3, 4, 5, 6, 6, 7, 2, 2]
TRUE_UNITS, FALSE_UNITS = [8, 9, 9, 10, 11], [3, 0, 7, 7, 1]


def seg(units):
    return " ".join(str(u) for u in units)


def train_on_story(model, v, steps=60):
    """Memorise the story (context + true ending) as text, as speech and across modalities."""
    from lst.data.batch import collate_sequences
    from lst.data.sequence_format import parse_sequence

    lines = [
        "<t> " + " ".join(STORY_TEXT + TRUE_END),
        "<s> " + seg(STORY_UNITS) + " | " + seg(TRUE_UNITS),
        "<s> " + seg(STORY_UNITS) + " <t> " + " ".join(TRUE_END),
        "<t> " + " ".join(STORY_TEXT) + " <s> " + seg(TRUE_UNITS),
    ]
    data = []
    for i, line in enumerate(lines):
        ids, ss = parse_sequence(line, v)
        data.append((str(i), {"seq": ids, "seg_start": ss}))
    _, batch = collate_sequences(data)
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss, _, _ = model(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def story_benchmark(path):
    ctx = {"T": "<t> " + " ".join(STORY_TEXT), "S": "<s> " + seg(STORY_UNITS)}
    end = {"T": ["<t> " + " ".join(TRUE_END), "<t> " + " ".join(FALSE_END)],
           "S": ["<s> " + seg(TRUE_UNITS), "<s> " + seg(FALSE_UNITS)]}
    items = []
    for mode in ("S->S", "T->T", "S->T", "T->S"):
        c, e = mode.split("->")
        for label in (0, 1):  # the true ending in both positions
            ends = end[e] if label == 0 else end[e][::-1]
            items.append(StoryItem(f"story-{c}2{e}-{label}", "cloze", mode, ctx[c], ends, label))
    write_benchmark(items, path)


@pytest.mark.parametrize("kind", ["token_lm", "lst_static"])
def test_memorised_story_prefers_true_ending(tmp_path, kind):
    from lst.models.lst_model import LSTModel
    from lst.models.token_lm import TokenLM

    torch.manual_seed(0)
    v = vocab()
    if kind == "token_lm":
        model = TokenLM(len(v), v.unit_offset, v.n_units, d_model=32, n_layers=1, n_heads=2)
    else:
        model = LSTModel(len(v), v.unit_offset, v.n_units, d_model=32, n_layers=1, n_heads=2, local_d_model=16,
                         local_heads=1, window=16, patching="static", patch_size=2)
    loss = train_on_story(model, v, steps=60)
    assert loss < 0.5, f"did not memorise the story (loss {loss:.3f})"
    story_benchmark(tmp_path / "bench.jsonl")
    summary, scored = evaluate_benchmark(model, v, tmp_path / "bench.jsonl", batch_size=3)
    for r in scored:
        assert r["raw"][r["label"]] > r["raw"][1 - r["label"]], r
        assert r["norm"][r["label"]] > r["norm"][1 - r["label"]], r
    assert summary["all"]["n"] == 8 and summary["all"]["raw"]["accuracy"] == 1.0
    lo, hi = summary["all"]["raw"]["ci95"]
    assert (lo, hi) == pytest.approx(wilson_interval(8, 8))
    # the same model, untrained, has no such preference everywhere (the test is not vacuous)
    assert not math.isclose(scored[0]["raw"][0], scored[0]["raw"][1])
    assert np.isfinite([x for r in scored for x in r["raw"]]).all()
