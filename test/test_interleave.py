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
