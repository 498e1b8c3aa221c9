"""Patchers (pure functions) and the batch plan built from them."""
import numpy as np
import pytest
import torch

from lst.models.lst_model import build_plan
from lst.patching import Patcher, aligned_patches, curriculum_aligned_prob, silence_patches, static_patches

OFF = 20

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def test_static():
    p = static_patches(10, 4)
    assert p.lengths == [4, 4, 2] and p.forced == [True, True, False]
    assert static_patches(8, 4).lengths == [4, 4]
    assert static_patches(0, 4).lengths == []  # empty speech span
    assert static_patches(3, 4).lengths == [3] and static_patches(3, 4).forced == [False]


def test_aligned_one_patch_per_segment_and_long_words_split():
    flags = [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # segments of 3, 2, 8 units
    p = aligned_patches(flags, max_patch_len=5, patch_size=4)
    assert p.lengths == [3, 2, 5, 3]  # the 8-unit word is split at max_patch_len from its start
    assert p.forced == [False, False, True, False]
    assert sum(p.lengths) == len(flags)
    assert aligned_patches([], 5, 4).lengths == []


def test_aligned_fallback_is_decided_at_the_first_unit():
    # a span whose first unit carries 0 is unaligned -> static; later flags never change that
    assert aligned_patches([0, 0, 0, 0, 0, 0], 16, 4).lengths == [4, 2]
    assert aligned_patches([0, 0, 1, 0, 0, 0], 16, 4).lengths == [4, 2]
    assert aligned_patches([1, 0, 0, 0, 0, 0], 16, 4).lengths == [6]  # one word, no later marks needed
    assert aligned_patches([1, 0, 0, 0, 0, 0], 16, 4).aligned
    assert aligned_patches([0, 0, 0, 0, 0, 0], 16, 4, allow_fallback=False).lengths == [6]


def test_max_patch_len_none_never_splits_words():
    flags = [1] + [0] * 20 + [1, 0]
    assert aligned_patches(flags, None, 4).lengths == [21, 2]
    assert aligned_patches(flags, None, 4).forced == [False, False]
    assert silence_patches([0] * 30, {0}, 4, None).lengths == [30]
    assert Patcher("aligned").max_len is None and Patcher("aligned").cap("aligned", 3) is None


def test_silence_runs_fold_into_one_patch():
    sil = {0}
    units = [5, 6, 7, 0, 0, 0, 0, 0, 8, 9, 9, 9, 9, 9, 0]
    p = silence_patches(units, sil, patch_size=2, max_patch_len=4)
    assert p.lengths == [2, 1, 4, 1, 2, 2, 2, 1]
    assert p.forced == [True, False, True, False, True, True, True, False]
    assert silence_patches([], sil, 2, 4).lengths == []


def test_curriculum_schedule():
    assert curriculum_aligned_prob(0, 10, 20) == 1.0
    assert curriculum_aligned_prob(15, 10, 20) == pytest.approx(0.5)
    assert curriculum_aligned_prob(20, 10, 20) == 0.0
    p = Patcher("curriculum", curriculum_total_steps=30)
    assert p.curriculum_steps == [10, 20]
    rng = np.random.default_rng(0)
    assert all(p.resolve(5, True, rng) == "aligned" for _ in range(20))
    assert all(p.resolve(25, True, rng) == "static" for _ in range(20))
    mid = [p.resolve(15, True, rng) for _ in range(400)]
    assert 0.4 < mid.count("aligned") / 400 < 0.6
    assert p.resolve(5, False, rng) == "static"  # evaluation uses the final regime
    with pytest.raises(ValueError):
        Patcher("curriculum")
    with pytest.raises(ValueError):
        Patcher("silence")


@pytest.mark.parametrize("mode", ["static", "aligned", "silence"])
def test_incremental_rule_matches_batch_patcher(mode):
    """Generation decides patch starts one unit at a time; it must cut exactly like the
    batch patcher does on every span."""
    patcher = Patcher(mode if mode != "aligned" else "aligned", patch_size=3, max_patch_len=4, silence_units=[0, 1])
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        units = rng.integers(0, 5, n)
        flags = (rng.random(n) < 0.3).astype(int)
        flags[0] = 1
        ref = patcher(units, flags, mode, allow_fallback=False).lengths
        got, open_units = [], []
        for u, f in zip(units, flags):
            if patcher.starts_new_patch(mode, open_units, int(u), int(f)):
                if open_units:
                    got.append(len(open_units))
                open_units = []
            open_units.append(int(u))
        got.append(len(open_units))
        assert got == ref


def _plan(ids, flags, mode="static", k=2, max_len=3, W=512):
    seq = torch.tensor([ids])
    seg = torch.tensor([flags])
    return build_plan(seq, torch.tensor([len(ids)]), seg, OFF, Patcher(mode, k, max_len), [mode], decoder_window=W,
                      boundary_labels=True)


def test_plan_text_only_sequence_is_one_patch_per_token():
    p = _plan([2, 3, 7, 8, 2], [0] * 5)
    assert p.G == 5 and p.patch_mask.sum(1).tolist() == [1] * 5
    assert p.tgt.tolist() == [3, 7, 8, 2]  # every next token, from the local decoder
    assert p.ctx[0].tolist() == [0, 1, 2, 3, 4]  # a 1-token patch is complete at once
    assert p.bd_src.numel() == 0


def test_plan_consecutive_spans_speech_at_end_and_contexts():
    u = lambda i: OFF + i  # noqa: E731
    #       0  1  2     3     4     5  6     7     8
    ids = [2, 4, u(0), u(1), u(2), 4, u(3), u(4), u(5)]  # two speech spans, speech at the very end
    p = _plan(ids, [0] * 9, "static", k=2)
    # patches: sos, <s>, [u0 u1], [u2], <s>, [u3 u4], [u5]
    assert p.G == 7 and p.patch_mask.sum(1).tolist() == [1, 1, 2, 1, 1, 2, 1]
    # latest complete patch per position: u0 -> <s> (1); u1 closes its patch by length -> 2;
    # u2 -> 2 (span end not known yet); <s> -> 4; u3 -> 4; u4 -> 5; u5 -> 5
    assert p.ctx[0].tolist() == [0, 1, 1, 2, 2, 4, 4, 5, 5]
    assert p.tgt.tolist() == ids[1:] and p.pos[:, 1].tolist() == list(range(1, 9))


def test_plan_sequence_starting_with_units_has_no_context_at_first():
    u = lambda i: OFF + i  # noqa: E731
    p = _plan([u(0), u(1), u(2), 3, 7], [1, 0, 0, 0, 0], "static", k=2)
    assert p.ctx[0].tolist() == [-1, 0, 0, 2, 3]  # no wrap to a previous sequence
    assert p.counts["dec_slots"].tolist() == [0 + 1 + 1 + 3 + 4]


def test_plan_decoder_window_counts_visible_patches():
    p = _plan([2, 3, 7, 8, 2], [0] * 5, W=2)
    assert p.counts["dec_slots"].tolist() == [1 + 2 + 2 + 2 + 2]


def test_plan_word_longer_than_max_patch_len_and_boundary_labels():
    u = lambda i: OFF + i  # noqa: E731
    ids = [2, 4] + [u(i) for i in range(7)] + [2]
    flags = [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]  # words of 2 and 5 units, max_patch_len 3
    p = _plan(ids, flags, "aligned", max_len=3)
    assert p.patch_mask.sum(1).tolist() == [1, 1, 2, 3, 2, 1]
    # the 3-unit piece is closed by length: its last unit already reads it
    assert p.ctx[0].tolist() == [0, 1, 1, 1, 2, 2, 3, 3, 3, 5]
    assert p.bd_tgt.tolist() == [0, 1, 0, 0, 0, 0]  # units 2..7 of the span: starts a word?
    static = _plan(ids, flags, "static", max_len=3)
    assert static.bd_src.numel() == 0  # static spans carry no boundary labels
