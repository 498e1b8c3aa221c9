"""Packing documents into rows of a fixed number of global positions (lst/data/packing.py)."""
import random

import numpy as np
import pytest

from lst.data.batch import DocumentPreprocessor
from lst.data.packing import PackedIterFactory, Packer, PositionCounter, collate_packed
from lst.vocab import SOS_EOS_ID, SpeechTextVocab, build_token_list
from test_interleave import doc_vocab, make_doc


def test_position_counter_counts_like_the_model():
    vocab = SpeechTextVocab(build_token_list(["▁a", "▁b"], n_units=10))
    u = vocab.unit_offset
    # <sos> <t> a b <s> 7 units (segments 3+4) <t> a <sos/eos>
    ids = np.array([SOS_EOS_ID, 3, 5, 6, 4] + [u + 1] * 7 + [3, 5, SOS_EOS_ID])
    seg = np.zeros_like(ids)
    seg[5], seg[8] = 1, 1
    assert PositionCounter("token_lm", {}, u)(ids, seg) == 15
    assert PositionCounter("lst", {"patching": "static", "patch_size": 4}, u)(ids, seg) == 8 + 2
    assert PositionCounter("lst", {"patching": "aligned"}, u)(ids, seg) == 8 + 2
    assert PositionCounter("lst", {"patching": "static", "patch_size": 2}, u)(ids, seg) == 8 + 4
    # curriculum: the larger of static and aligned, so a row never overflows either way
    seg[9:12] = 1  # aligned: segments 3, 1, 1, 1, 1 -> 5 patches; static 4 -> 2
    assert PositionCounter("lst", {"patching": "curriculum", "patch_size": 4}, u)(ids, seg) == 8 + 5


@pytest.mark.parametrize("conf", [{"patching": "static", "patch_size": 4},
                                  {"patching": "aligned", "patch_size": 4, "max_patch_len": 8},
                                  {"patching": "silence", "patch_size": 4, "max_patch_len": 8, "silence_units": [0, 1]}])
def test_position_counter_equals_the_model_plan(conf):
    """On drawn documents, the counter gives exactly the global positions (patches + 1-token
    text/marker patches) of the model's own plan."""
    from lst.models.lst_model import plan_sequence
    from lst.patching import Patcher

    rng = random.Random(1)
    vocab = doc_vocab()
    pre = DocumentPreprocessor(vocab, stream_mix="spiritlm")
    count = PositionCounter("lst", conf, vocab.unit_offset)
    patcher = Patcher(patching=conf["patching"], patch_size=4, max_patch_len=conf.get("max_patch_len"),
                      silence_units=conf.get("silence_units"))
    for i in range(60):
        doc = make_doc(rng, rng.randint(2, 30), f"d{i}")
        pre.set_epoch(i)
        x = pre(doc.doc_id, {"seq": doc.to_json()})
        plan = plan_sequence(x["seq"], x["seg_start"], vocab.unit_offset, patcher, conf["patching"])
        assert count(x["seq"], x["seg_start"]) == plan["P"]


def _items(n_docs=40, seed=0, mix="inter=1"):
    rng = random.Random(seed)
    vocab = doc_vocab()
    pre = DocumentPreprocessor(vocab, stream_mix=mix)
    docs = [make_doc(rng, rng.randint(3, 25), f"d{i:02d}") for i in range(n_docs)]
    return vocab, pre, {d.doc_id: d.to_json() for d in docs}


def test_rows_keep_documents_whole_and_doc_ids():
    vocab, pre, lines = _items()
    items = [(k, pre(k, {"seq": v})) for k, v in lines.items()]
    count = PositionCounter("lst", {"patching": "static", "patch_size": 4}, vocab.unit_offset)
    packer = Packer(96, count)
    rows = list(packer.rows_of(iter(items)))
    flat = [k for row in rows for k, _ in row]
    assert flat == [k for k, _ in items if k not in packer.skipped]  # every document once, in order
    assert all(sum(count(d["seq"], d["seg_start"]) for _, d in row) <= 96 for row in rows)
    assert 0.7 < packer.fill_rate <= 1.0
    keys, batch = collate_packed(rows[:3])
    for r, row in enumerate(rows[:3]):
        n = int(batch["seq_lengths"][r])
        pos = 0
        for i, (k, d) in enumerate(row):  # each document intact, in place, with its index
            L = len(d["seq"])
            assert batch["seq"][r, pos:pos + L].tolist() == d["seq"].tolist()
            assert batch["seg_start"][r, pos:pos + L].tolist() == d["seg_start"].tolist()
            assert (batch["doc_ids"][r, pos:pos + L] == i).all()
            assert batch["seq"][r, pos].item() == SOS_EOS_ID  # a document starts with <sos/eos>
            pos += L
        assert pos == n and (batch["seq"][r, n:] == 0).all()
    assert keys[0] == "+".join(k for k, _ in rows[0])
    # a document longer than a row is skipped, counted and named
    small = Packer(8, count)
    list(small.rows_of(iter(items)))
    assert len(small.skipped) > 0
    # the token cap (model max_len) also closes rows
    capped = Packer(10_000, count, max_tokens=200)
    assert all(sum(len(d["seq"]) for _, d in row) <= 200 for row in capped.rows_of(iter(items)))


class _DictDataset:
    """ESPnetDataset stand-in: key -> (key, preprocess(key, {"seq": line}))."""

    def __init__(self, lines, preprocess):
        self.lines, self.preprocess = lines, preprocess

    def __getitem__(self, key):
        return key, self.preprocess(key, {"seq": self.lines[key]})


@pytest.mark.parametrize("workers", [0, 2])
def test_packed_iterator_epochs_resume_and_workers(workers):
    vocab, pre, lines = _items()
    count = PositionCounter("token_lm", {}, vocab.unit_offset)

    def run(epoch, n_workers, iters=None):
        ds = _DictDataset(lines, DocumentPreprocessor(vocab, stream_mix="inter=1"))
        f = PackedIterFactory(ds, list(lines), 300, 2, count, seed=1, num_workers=n_workers,
                              num_iters_per_epoch=iters)
        return [(k, b["seq"].tolist()) for k, b in f.build_iter(epoch)]

    e1, e2 = run(1, workers), run(2, workers)
    assert e1 != e2  # new order and new draws every epoch
    assert run(2, 0) == e2  # the same batches after a resume at epoch 2, and in worker processes
    for keys, _ in e1:
        assert len(keys) == 2  # pack_rows rows per batch, every batch full
    docs_seen = [d for keys, _ in e1 for row in keys for d in row.split("+")]
    assert len(docs_seen) == len(set(docs_seen))  # one pass: each document at most once
    if workers == 0:
        long = run(1, 0, iters=3 * len(e1) + 1)  # more batches than one pass: further passes follow
        assert len(long) == 3 * len(e1) + 1 and long[: len(e1)] == e1


def test_sort_window_groups_lengths_and_keeps_every_document_once():
    vocab, pre, lines = _items(n_docs=60)
    count = PositionCounter("token_lm", {}, vocab.unit_offset)

    def run(epoch, window):
        ds = _DictDataset(lines, DocumentPreprocessor(vocab, stream_mix="inter=1"))
        f = PackedIterFactory(ds, list(lines), 300, 2, count, seed=1, sort_window=window)
        return [(k, b) for k, b in f.build_iter(epoch)]

    def padded(batches):  # positions the models run: documents x the batch's longest document
        total = 0
        for _, b in batches:
            ids, lens = b["doc_ids"], b["seq_lengths"]
            doc_lens = [int((ids[r, : lens[r]] == d).sum()) for r in range(len(lens)) for d in ids[r, : lens[r]].unique()]
            total += len(doc_lens) * max(doc_lens)
        return total

    plain, sorted_ = run(1, 0), run(1, 20)
    assert run(1, 20)[0][0] == sorted_[0][0] and run(2, 20)[0][0] != sorted_[0][0]  # seeded per epoch
    seen = [d for keys, _ in sorted_ for row in keys for d in row.split("+")]
    assert len(seen) == len(set(seen)) and len(seen) >= 0.8 * len(lines)  # each once; little is dropped
    assert all(len(keys) == 2 for keys, _ in sorted_)
    assert padded(sorted_) < padded(plain)
    with pytest.raises(ValueError, match="sort_window"):
        PackedIterFactory(None, [], 300, 2, count, sort_window=-1)


def test_too_few_documents_for_a_batch_is_an_error():
    vocab, pre, lines = _items(n_docs=3)
    ds = _DictDataset(lines, pre)
    f = PackedIterFactory(ds, list(lines), 10_000, 2, PositionCounter("token_lm", {}, vocab.unit_offset))
    with pytest.raises(RuntimeError, match="fills fewer than pack_rows=2 rows"):
        list(f.build_iter(1))
