import random

import numpy as np
import pytest

from lst.data.timings import (
    TimingError,
    WordTiming,
    alignment_segments,
    check_ids_match,
    check_words_match,
    read_ctm,
    unit_segments,
    word_groups,
    word_unit_spans,
    write_ctm,
)


def random_timings(rng, n_words, gap_p=0.3, min_dur=0.01, max_dur=0.6):
    t = rng.uniform(0, 0.3)
    out = []
    for k in range(n_words):
        d = rng.uniform(min_dur, max_dur)
        out.append(WordTiming(f"w{k}", round(t, 4), round(t + d, 4)))
        t += d
        if rng.random() < gap_p:
            t += rng.uniform(0.0, 0.5)
    return out


@pytest.mark.parametrize("rate", [25.0, 50.0, 12.5])
def test_word_unit_spans_match_centre_rule(rate):
    """Brute force: unit i is in word k iff start_k <= (i + 0.5) / rate < end_k."""
    rng = random.Random(1)
    for _ in range(50):
        timings = random_timings(rng, rng.randint(1, 25))
        n_units = int(np.ceil(timings[-1].end * rate)) + rng.randint(0, 5)
        spans = word_unit_spans(timings, n_units, rate)
        owner = [-1] * n_units
        for k, wt in enumerate(timings):
            for i in range(n_units):
                c = (i + 0.5) / rate
                if wt.start <= c < wt.end:
                    assert owner[i] == -1
                    owner[i] = k
        for k, (a, b) in enumerate(spans):
            assert [i for i in range(n_units) if owner[i] == k] == list(range(a, b))
        # segments partition the units, none empty, word segments are exactly the word spans
        segs = alignment_segments(timings, n_units, rate)
        assert segs[0].start == 0 and segs[-1].end == n_units
        assert all(len(s) > 0 for s in segs)
        assert all(s.end == t.start for s, t in zip(segs, segs[1:]))
        covered = [k for s in segs if s.kind == "word" for k in s.words]
        assert covered == list(range(len(timings)))
        for s in segs:
            if s.kind == "sil":
                assert all(owner[i] == -1 for i in range(s.start, s.end))
            else:
                own = [k for k in s.words if spans[k][1] > spans[k][0]]
                assert len(own) == 1 and spans[own[0]] == (s.start, s.end)
        groups = word_groups(segs)
        assert groups[0].start == 0 and groups[-1].end == n_units
        assert sum(g.end - g.start for g in groups) == n_units
        assert sum(unit_segments(timings, n_units, rate)) == n_units


def test_exact_example():
    # 25 Hz: centres at 0.02, 0.06, 0.10, 0.14, ...; "a" [0.05, 0.15) holds units 1-3;
    # "b" [0.305, 0.315) holds no centre and shares "c"'s segment; "c" holds 0.34, 0.38
    t = [WordTiming("a", 0.05, 0.15), WordTiming("b", 0.305, 0.315), WordTiming("c", 0.315, 0.40)]
    assert word_unit_spans(t, 12, 25) == [(1, 4), (8, 8), (8, 10)]
    segs = alignment_segments(t, 12, 25)
    assert [(s.kind, s.start, s.end, s.words) for s in segs] == [
        ("sil", 0, 1, ()), ("word", 1, 4, (0,)), ("sil", 4, 8, ()), ("word", 8, 10, (1, 2)), ("sil", 10, 12, ()),
    ]
    assert unit_segments(t, 12, 25) == [1, 3, 4, 2, 2]
    # a centre exactly on a boundary belongs to the word that starts there
    assert word_unit_spans([WordTiming("x", 0.1, 0.3), WordTiming("y", 0.3, 0.5)], 13, 25) == [(2, 7), (7, 12)]


def test_ctm_roundtrip(tmp_path):
    t = {"u1": [WordTiming("hi", 0.0, 0.25), WordTiming("there", 0.3, 0.61)], "u2": [WordTiming("x", 0.1, 0.2)]}
    write_ctm(tmp_path / "ctm", t)
    assert read_ctm(tmp_path / "ctm") == t


def test_overlapping_timings_name_utterance_and_line(tmp_path):
    p = tmp_path / "word_ctm"
    p.write_text("u1 a 0.0 0.3\nu1 b 0.5 0.6\nu2 the 0.0 0.5\nu2 cat 0.4 0.9\n")
    with pytest.raises(TimingError, match=r"word_ctm:4: .*u2.*overlapping.*'cat'"):
        read_ctm(p)


def test_bad_lines(tmp_path):
    p = tmp_path / "c"
    p.write_text("u1 a 0.0\n")
    with pytest.raises(TimingError, match=r"c:1: expected"):
        read_ctm(p)
    p.write_text("u1 a 0.0 x\n")
    with pytest.raises(TimingError, match=r"c:1: utterance u1"):
        read_ctm(p)
    p.write_text("u1 a 0.5 0.2\n")
    with pytest.raises(TimingError, match=r"u1.*bad times"):
        read_ctm(p)
    p.write_text("u1 a 0.0 0.2\nu2 b 0 1\nu1 c 0.3 0.4\n")
    with pytest.raises(TimingError, match=r"c:3: utterance u1 appears again"):
        read_ctm(p)


def test_word_without_timing_and_mismatch():
    t = [WordTiming("the", 0, 0.2), WordTiming("cat", 0.2, 0.5)]
    with pytest.raises(TimingError, match=r"utterance u7: word 2 'sat' of the text has no timing"):
        check_words_match("u7", ["the", "cat", "sat"], t)
    with pytest.raises(TimingError, match=r"utterance u7: word 1 of the text is 'dog'"):
        check_words_match("u7", ["the", "dog"], t)
    with pytest.raises(TimingError, match=r"u7: 1 timing\(s\) beyond"):
        check_words_match("u7", ["the"], t)


def test_id_mismatch():
    with pytest.raises(TimingError, match=r"in text have no timings.*'b'.*not in text.*'c'"):
        check_ids_match(["a", "b"], ["a", "c"], "text", "word_ctm")


def test_timings_past_units():
    t = [WordTiming("a", 0.0, 2.0)]
    with pytest.raises(TimingError, match=r"utterance u9: last word 'a' ends at 2.000s"):
        word_unit_spans(t, 10, 25, utt="u9")
