import json
import random
from collections import Counter

import pytest

from lst.data.interleave import (
    AlignedUtterance,
    InterleaveConfig,
    assign_kinds,
    interleave,
    parse_ratios,
    plan_spans,
    speech_only,
)
from lst.data.sequence_format import format_sequence, parse_sequence
from lst.data.timings import TimingError, WordTiming, word_unit_spans
from lst.vocab import SpeechTextVocab, build_token_list

RATE = 25.0


def fake_encode(text):
    """A deterministic 'BPE': each word -> '▁'+first 3 letters, then the rest in 3-letter pieces."""
    pieces = []
    for w in text.split(" "):
        pieces.append("▁" + w[:3])
        pieces += [w[i : i + 3] for i in range(3, len(w), 3)]
    return pieces


def make_utt(rng, n_words, utt="u"):
    words = [f"w{k}x" + "y" * rng.randint(0, 6) for k in range(n_words)]
    t = rng.uniform(0.0, 0.3)
    timings = []
    for w in words:
        d = rng.choice([0.02, rng.uniform(0.08, 0.6)])  # some words shorter than a unit
        timings.append(WordTiming(w, round(t, 4), round(t + d, 4)))
        t += d + (rng.uniform(0.05, 0.4) if rng.random() < 0.2 else 0.0)
    n_units = int(t * RATE) + rng.randint(0, 4)
    units = [rng.randrange(20) for _ in range(n_units)]
    return words, timings, units, AlignedUtterance.build(utt, words, timings, units, RATE)


def check_invariants(ua, words, timings, spans, plan):
    # the plan covers every word group once, in order, alternating modality
    assert plan[0][1] == 0 and plan[-1][2] == len(ua.groups)
    assert all(p[2] == q[1] for p, q in zip(plan, plan[1:]))
    assert all(p[0] != q[0] for p, q in zip(plan, plan[1:]))
    seen_words = []
    speech_units = []
    for span, (mod, a, b) in zip(spans, plan):
        assert span.modality == mod
        span_words = ua.group_words(a, b)
        seen_words += span_words
        if mod == "text":
            assert span.items == fake_encode(" ".join(span_words))
        else:
            # boundaries fall between words: the span starts where its first word's group starts
            assert sum(span.segments) == len(span.items) and all(n > 0 for n in span.segments)
            g0, g1 = ua.groups[a], ua.groups[b - 1]
            assert span.items == ua.units[g0.start : g1.end]
            speech_units.append((g0.start, g1.end))
            # each word segment is exactly the word's units by the centre rule
            spans_k = word_unit_spans(timings, len(ua.units), RATE)
            pos = g0.start
            for seg_len, seg in zip(span.segments, [s for g in ua.groups[a:b] for s in g.segments]):
                assert (seg.start, seg.end) == (pos, pos + seg_len)
                if seg.kind == "word":
                    owners = [k for k in seg.words if spans_k[k][1] > spans_k[k][0]]
                    assert [spans_k[k] for k in owners] == [(seg.start, seg.end)]
                pos += seg_len
    # every word exactly once, in order, in exactly one modality
    assert seen_words == words


@pytest.mark.parametrize("cfg", [InterleaveConfig(), InterleaveConfig(switch_prob=0.3), InterleaveConfig(span_words=(1, 3))])
def test_interleave_invariants(cfg):
    rng = random.Random(0)
    for i in range(60):
        words, timings, units, ua = make_utt(rng, rng.randint(2, 60), utt=f"u{i}")
        spans, plan = interleave(ua, fake_encode, cfg, rng, return_plan=True)
        assert len(spans) >= min(2, len(ua.groups))  # at least one switch when there are 2 groups
        check_invariants(ua, words, timings, spans, plan)
        # and the line parses back through the task's reader with one segment start per segment
        tokens = build_token_list(sorted({p for s in spans if s.modality == "text" for p in s.items}), 20)
        ids, seg_start = parse_sequence(format_sequence(spans), SpeechTextVocab(tokens))
        n_segments = sum(len(s.segments) for s in spans if s.modality == "speech")
        assert int(seg_start.sum()) == n_segments


def test_span_lengths_and_switch_prob():
    rng = random.Random(3)
    plan = plan_spans(10000, InterleaveConfig(span_words=(5, 30)), rng)
    lengths = [b - a for _, a, b in plan]
    assert all(5 <= n <= 30 for n in lengths[:-1]) and lengths[-1] <= 30
    assert abs(sum(lengths[:-1]) / (len(lengths) - 1) - 17.5) < 1.5
    plan = plan_spans(20001, InterleaveConfig(switch_prob=0.2), rng)
    assert abs((len(plan) - 1) / 20000 - 0.2) < 0.015


def test_speech_only_carries_all_segments():
    rng = random.Random(5)
    words, timings, units, ua = make_utt(rng, 12)
    (span,) = speech_only(ua)
    assert span.items == units and sum(span.segments) == len(units)
    assert len([s for g in ua.groups for s in g.segments if s.kind == "word"]) <= len(words)


def test_assign_kinds_exact_ratios():
    rng = random.Random(0)
    kinds = assign_kinds(1000, parse_ratios("inter=0.33,text=0.67"), rng)
    assert Counter(kinds) == {"inter": 330, "text": 670}
    kinds = assign_kinds(7, {"inter": 1, "speech": 1, "text": 1}, rng)
    assert sorted(Counter(kinds).values()) == [2, 2, 3]
    assert kinds != sorted(kinds) or len(set(kinds)) == 1  # shuffled
    with pytest.raises(ValueError, match="unknown sequence kinds"):
        parse_ratios("inter=1,foo=2")


def test_bad_inputs_name_utterance():
    t = [WordTiming("a", 0.0, 0.3), WordTiming("b", 0.2, 0.5)]
    with pytest.raises(TimingError, match="utterance bad1: overlapping"):
        AlignedUtterance.build("bad1", ["a", "b"], t, [0] * 20, RATE)
    with pytest.raises(TimingError, match="utterance bad2: word 2 'c' of the text has no timing"):
        AlignedUtterance.build("bad2", ["a", "b", "c"], [WordTiming("a", 0, 0.2), WordTiming("b", 0.2, 0.4)], [0] * 20, RATE)


# --------------------------------------------------------------------------- CLI
def _write_corpus(tmp_path, n_utts=30, bad=None):
    import sentencepiece as spm

    rng = random.Random(1)
    text, ctm, units = [], [], []
    for i in range(n_utts):
        words, timings, u, _ = make_utt(rng, rng.randint(8, 40), utt=f"utt{i:02d}")
        text.append(f"utt{i:02d} " + " ".join(words))
        ctm += [f"utt{i:02d} {w.word} {w.start:.4f} {w.end:.4f}" for w in timings]
        units.append(f"utt{i:02d} " + " ".join(map(str, u)))
    if bad == "missing_word_timing":
        ctm = [l for l in ctm if not l.startswith("utt03 ")] + [l for l in ctm if l.startswith("utt03 ")][:-1]
    if bad == "id_mismatch":
        text.append("uttXX hello world")
    (tmp_path / "text").write_text("\n".join(text) + "\n")
    (tmp_path / "word_ctm").write_text("\n".join(ctm) + "\n")
    (tmp_path / "units").write_text("\n".join(units) + "\n")
    (tmp_path / "unit_info.json").write_text(json.dumps({"unit_rate_hz": RATE, "n_units": 20}))
    (tmp_path / "bpe.txt").write_text("\n".join(l.split(" ", 1)[1] for l in text) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "bpe.txt"), model_prefix=str(tmp_path / "bpe"), vocab_size=40, model_type="bpe",
        minloglevel=2,
    )
    return text


def _run(tmp_path, *extra):
    from lst.bin.build_interleaved import main

    return main([
        "--units", str(tmp_path / "units"), "--unit_info", str(tmp_path / "unit_info.json"),
        "--word_ctm", str(tmp_path / "word_ctm"), "--text", str(tmp_path / "text"),
        "--bpe_model", str(tmp_path / "bpe.model"), "--out", str(tmp_path / "seqs.inter"), *extra,
    ])


def test_cli_writes_parsable_sequences(tmp_path, capsys):
    import sentencepiece as spm

    text = _write_corpus(tmp_path)
    assert _run(tmp_path, "--ratios", "inter=0.5,speech=0.2,text=0.3", "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "30 in, 30 written, 0 skipped" in out and "speech/text length ratio" in out
    lines = (tmp_path / "seqs.inter").read_text().splitlines()
    kinds = Counter(l.split("_", 1)[0] for l in lines)
    assert kinds == {"inter": 15, "speech": 6, "text": 9}
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    tokens = build_token_list([sp.id_to_piece(i) for i in range(sp.get_piece_size())], 20)
    vocab = SpeechTextVocab(tokens)
    words_of = {l.split()[0]: l.split()[1:] for l in text}
    for line in lines:
        seq_id, items = line.split(" ", 1)
        parse_sequence(items, vocab, where=seq_id)
        if seq_id.startswith("inter_"):
            assert "<s>" in items and "<t>" in items
            # the text pieces of the line decode to a sub-multiset of the utterance's words
            text_words = []
            for chunk in items.replace("<t>", "\n<t>").replace("<s>", "\n<s>").split("\n")[1:]:
                mark, *rest = chunk.split()
                if mark == "<t>":
                    text_words += sp.decode(rest).split()
            utt_words = words_of[seq_id[len("inter_"):]]
            assert all(Counter(text_words)[w] <= Counter(utt_words)[w] for w in text_words)


def test_cli_bad_inputs(tmp_path, caplog):
    _write_corpus(tmp_path, bad="missing_word_timing")
    assert _run(tmp_path) == 1
    assert "utterance utt03: word" in caplog.text and "has no timing" in caplog.text
    caplog.clear()
    assert _run(tmp_path, "--on_timing_error", "skip") == 0
    _write_corpus(tmp_path, bad="id_mismatch")
    caplog.clear()
    assert _run(tmp_path) == 1
    assert "uttXX" in caplog.text and "no timings" in caplog.text


# =========================================================================================
# Paper-style documents drawn every epoch (spec 4.3)
# =========================================================================================
from lst.data.batch import DocumentPreprocessor, spans_to_ids  # noqa: E402
from lst.data.documents import (  # noqa: E402
    SIL,
    DocumentError,
    aligned_document,
    parse_document,
    read_documents,
    split_document,
    text_document,
)
from lst.data.interleave import (  # noqa: E402
    PaperInterleaveConfig,
    draw_kind,
    draw_rng,
    draw_spans,
    parse_stream_mix,
    plan_paper_blocks,
)


def make_doc(rng, n_words, doc_id="d"):
    while True:
        try:
            words, timings, units, _ = make_utt(rng, n_words, utt=doc_id)
            break
        except TimingError:  # every word shorter than a unit: draw again
            continue
    spans = word_unit_spans(timings, len(units), RATE)
    return aligned_document(doc_id, words, [fake_encode(w) for w in words], units, spans, timings)


def doc_vocab():
    pieces = sorted({p for n in range(200) for p in fake_encode(f"w{n}x" + "y" * 6)})
    return SpeechTextVocab(build_token_list(pieces, 20))


def test_document_round_trip_and_errors(tmp_path):
    rng = random.Random(0)
    doc = make_doc(rng, 9, "utt1")
    assert sum(n for _, n in doc.segs) == len(doc.units)
    assert [w for w, _ in doc.segs if w != SIL] == list(range(9))
    again = parse_document("utt1", doc.to_json())
    assert again.segs == doc.segs and again.units == doc.units and again.pieces == doc.pieces
    tdoc = text_document("txt1", ["a", "b"], [["▁a"], ["▁b"]])
    path = tmp_path / "docs"
    path.write_text(doc.line() + "\n" + tdoc.line() + "\n")
    docs = read_documents(path)
    assert list(docs) == ["utt1", "txt1"] and not docs["txt1"].aligned
    bad = doc.to_json().replace('"segs":[', '"segs":[[-1,0],')
    path.write_text(tdoc.line() + "\n" + f"utt1 {bad}\n")
    with pytest.raises(DocumentError, match=rf"{path}:2: document utt1: silence segment 0 has 0 units"):
        read_documents(path)
    path.write_text("x {not json\n")
    with pytest.raises(DocumentError, match=rf"{path}:1: document x: not valid JSON"):
        read_documents(path)


def test_paper_blocks_follow_the_span_rules():
    rng = random.Random(1)
    cfg = PaperInterleaveConfig()
    for _ in range(3000):
        n = rng.randint(1, 120)
        blocks = plan_paper_blocks(n, cfg, rng)
        hi = max(2, min(30, int(0.6 * n)))
        lo = max(2, min(5, hi))
        assert blocks[0][1] == 0 and blocks[-1][2] == n
        assert all(p[2] == q[1] and p[0] != q[0] for p, q in zip(blocks, blocks[1:]))
        body = blocks[:-2] if len(blocks) > 1 else []  # the last block may be trimmed or absorb a merge
        for i, (m, a, b) in enumerate(body):
            length = b - a
            if m == "text":
                assert lo <= length <= hi
            elif i > 0:  # speech after a text span of t words: max(2, floor(t / 2))
                assert length == max(2, (blocks[i - 1][2] - blocks[i - 1][1]) // 2)
            else:  # speech first
                assert max(2, lo // 2) <= length <= max(2, hi // 2)
        if len(blocks) > 1:
            assert blocks[-1][2] - blocks[-1][1] >= 3  # a final block < 3 words was merged


def test_drawn_sequences_keep_every_word_once_with_their_frames():
    rng = random.Random(2)
    cfg = PaperInterleaveConfig()
    vocab = doc_vocab()
    for i in range(150):
        doc = make_doc(rng, rng.randint(2, 60), f"d{i}")
        spans, plan = draw_spans(doc, "inter", cfg, draw_rng(0, 1, doc.doc_id), return_plan=True)
        words = []
        for span, (m, a, b) in zip(spans, plan):
            words += list(range(a, b))
            if m == "text":
                assert span.items == [p for k in range(a, b) for p in doc.pieces[k]]
            else:  # the span's word units in order, segments sum to the items
                assert sum(span.segments) == len(span.items) and all(n > 0 for n in span.segments)
                offs = doc.seg_offsets()
                word_units = [u for j, (w, n) in enumerate(doc.segs) if a <= w < b
                              for u in doc.units[offs[j]:offs[j + 1]]]
                inner = [u for j, (w, n) in enumerate(doc.segs) if w == SIL and any(
                    doc.segs[x][0] in range(a, b) for x in range(j)) and any(
                    doc.segs[x][0] in range(a, b) for x in range(j + 1, len(doc.segs)))
                    for u in doc.units[offs[j]:offs[j + 1]]]
                edge_max = sum(n for w, n in doc.segs if w == SIL)
                assert len(word_units) + len(inner) <= len(span.items) <= len(word_units) + len(inner) + edge_max
                it = iter(span.items)  # the word units appear in order (a subsequence)
                assert all(any(u == v for v in it) for u in word_units)
        assert sorted(words) == list(range(len(doc.words)))  # every word exactly once
        ids, seg = spans_to_ids(spans, vocab)
        assert int(seg.sum()) == sum(len(s.segments) for s in spans if s.modality == "speech")


def test_edge_silences_half_cut():
    # words w0 w1 w2 w3 w4 w5 with a 6-frame silence between w1 and w2, 3 frames before w0
    segs = [(SIL, 3), (0, 2), (1, 2), (SIL, 6), (2, 2), (3, 2), (4, 2), (5, 2), (SIL, 4)]
    units = list(range(sum(n for _, n in segs)))
    from lst.data.documents import Document
    from lst.data.interleave import document_speech_span

    doc = Document("x", [f"w{k}" for k in range(6)], [[f"▁w{k}"] for k in range(6)], units, segs)
    s = document_speech_span(doc, 0, 2)  # utterance start (full 3) + w0 w1 + half of the 6 gap
    assert s.segments == [3, 2, 2, 3] and s.items == units[:3 + 4 + 3]
    s = document_speech_span(doc, 2, 6)  # half of the gap before, w2..w5, the final silence whole
    assert s.segments == [3, 2, 2, 2, 2, 4] and s.items == units[10:]


def test_ratio_mix_epochs_and_resume():
    rng = random.Random(4)
    docs = [make_doc(rng, rng.randint(20, 60), f"d{i}") for i in range(60)]
    cfg = PaperInterleaveConfig()
    speech = text = 0
    for epoch in range(1, 21):
        for doc in docs:
            _, plan = draw_spans(doc, "inter", cfg, draw_rng(0, epoch, doc.doc_id), return_plan=True)
            speech += sum(b - a for m, a, b in plan if m == "speech")
            text += sum(b - a for m, a, b in plan if m == "text")
    assert abs(speech / text - 0.5) < 0.06, speech / text  # 1:2 speech:text words
    one_to_one = PaperInterleaveConfig(ratio="1:1")
    s1 = t1 = 0
    for doc in docs:
        _, plan = draw_spans(doc, "inter", one_to_one, draw_rng(0, 1, doc.doc_id), return_plan=True)
        s1 += sum(b - a for m, a, b in plan if m == "speech")
        t1 += sum(b - a for m, a, b in plan if m == "text")
    assert abs(s1 / t1 - 1.0) < 0.15
    # stream mix: paper = 1/3 interleaved, 2/3 text, no speech-only; spiritlm thirds
    for name, want in (("paper", {"inter": 1 / 3, "text": 2 / 3}), ("spiritlm", {"inter": 1 / 3, "speech": 1 / 3,
                                                                                 "text": 1 / 3})):
        mix = parse_stream_mix(name)
        kinds = Counter(draw_kind(docs[i % 60], mix, draw_rng(0, i // 60, f"d{i % 60}")) for i in range(6000))
        assert set(kinds) == set(want)
        assert all(abs(kinds[k] / 6000 - w) < 0.025 for k, w in want.items()), kinds
    assert parse_stream_mix({"inter": 1, "text": 1})["inter"] == 0.5
    with pytest.raises(ValueError, match="stream_mix"):
        parse_stream_mix("nonsense")
    # the preprocessor: a new draw each epoch, the same draw for the same (seed, epoch) in a new
    # process-like instance (resume), text documents always text
    vocab = doc_vocab()
    lines = {d.doc_id: d.to_json() for d in docs}
    pre = DocumentPreprocessor(vocab, seed=3, stream_mix="inter=1")
    draws = {}
    for epoch in (1, 2):
        pre.set_epoch(epoch)
        draws[epoch] = {k: pre(k, {"seq": v})["seq"].tolist() for k, v in lines.items()}
    assert sum(draws[1][k] != draws[2][k] for k in lines) > 50
    resumed = DocumentPreprocessor(vocab, seed=3, stream_mix="inter=1")
    resumed.set_epoch(2)
    assert all(resumed(k, {"seq": v})["seq"].tolist() == draws[2][k] for k, v in lines.items())
    other_seed = DocumentPreprocessor(vocab, seed=4, stream_mix="inter=1")
    other_seed.set_epoch(2)
    assert any(other_seed(k, {"seq": v})["seq"].tolist() != draws[2][k] for k, v in lines.items())
    tdoc = text_document("t", ["w1x"], [fake_encode("w1x")])
    assert all(draw_kind(tdoc, parse_stream_mix("spiritlm"), draw_rng(0, e, "t")) == "text" for e in range(50))


def test_long_documents_split_at_word_boundaries(caplog):
    rng = random.Random(6)
    doc = make_doc(rng, 80, "long")
    parts = split_document(doc, 120)
    assert len(parts) > 1 and [w for p in parts for w in p.words] == doc.words
    assert [u for p in parts for u in p.units] == doc.units  # every unit kept, in order
    assert all(p.worst_case_tokens() <= 120 for p in parts)
    assert [p.doc_id for p in parts] == [f"long-p{i + 1}" for i in range(len(parts))]
    vocab = doc_vocab()
    cfg = PaperInterleaveConfig()
    for part in parts:
        for e in range(20):
            for kind in ("inter", "speech", "text"):
                ids, _ = spans_to_ids(draw_spans(part, kind, cfg, draw_rng(0, e, part.doc_id)), vocab)
                assert len(ids) <= 120
    # at batch time, a too-long document is cut at a word boundary, counted and logged
    pre = DocumentPreprocessor(vocab, stream_mix="spiritlm", max_len=120)
    out = pre("long", {"seq": doc.to_json()})
    assert len(out["seq"]) <= 120 and pre.n_cut == 1 and "long: longer than max_len=120" in caplog.text


def test_worst_case_bounds_a_text_span_next_to_a_cut_silence():
    # w0 w1 have many pieces and one unit each; a speech span w2 w3 after them keeps half of
    # the 8-frame silence between w1 and w2, so that silence must count for w2 as well as w1
    from lst.data.documents import Document
    from lst.data.interleave import document_speech_span, document_text_span

    segs = [(0, 1), (1, 1), (SIL, 8), (2, 1), (3, 1)]
    doc = Document("x", [f"w{k}" for k in range(4)], [["▁a"] * 9, ["▁b"] * 9, ["▁c"], ["▁d"]], list(range(12)), segs)
    spans = [document_text_span(doc, 0, 2), document_speech_span(doc, 2, 4)]
    assert len(spans[1].items) == 4 + 2  # half the silence, w2, w3
    assert 2 + sum(1 + len(s.items) for s in spans) <= doc.worst_case_tokens()
    spans = [document_speech_span(doc, 0, 2), document_text_span(doc, 2, 4)]
    assert 2 + sum(1 + len(s.items) for s in spans) <= doc.worst_case_tokens()


def test_unit_ids_outside_the_codebook_are_named():
    from lst.data.sequence_format import Span

    vocab = doc_vocab()  # 20 units
    with pytest.raises(DocumentError, match=r"corpus/docs: d1: unit id -1 out of range \[0, 20\)"):
        spans_to_ids([Span("speech", [3, -1, 25], [3])], vocab, where="corpus/docs: d1")
    doc = text_document("d2", ["w1x"], [fake_encode("w1x")])
    bad = doc.to_json()[:-1] + ',"units":[25],"segs":[[0,1]]}'
    with pytest.raises(DocumentError, match=r"d2: unit id 25 out of range"):
        DocumentPreprocessor(vocab, stream_mix="speech=1")("d2", {"seq": bad})
