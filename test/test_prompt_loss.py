"""Downstream fine-tuning loss: prompt_loss_weight scales the NLL of the prompt (up to the
last modality marker) against the target side, for both models."""
import pytest
import torch

from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM, target_side

V, OFF, K = 40, 20, 20  # 5 specials + 15 text pieces + 20 units

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# s2t (ASR): <sos> <s> units <t> text <eos>; t2s (TTS): <sos> <t> text <s> units <eos>; padded with 0
S2T = [2, 4, OFF + 3, OFF + 5, OFF + 5, OFF + 1, OFF + 7, 3, 7, 9, 11, 2]
T2S = [2, 3, 8, 6, 4, OFF + 2, OFF + 2, OFF + 9, OFF + 4, 2, 0, 0]


def batch():
    seq = torch.tensor([S2T, T2S])
    lens = torch.tensor([12, 10])
    return seq, lens, torch.zeros_like(seq)


def build(kind, w):
    torch.manual_seed(0)
    common = dict(d_model=32, n_layers=2, n_heads=2, max_len=128, prompt_loss_weight=w)
    if kind == "token_lm":
        return TokenLM(V, OFF, K, **common)
    return LSTModel(V, OFF, K, **common, local_d_model=16, local_heads=2, window=8, patching="static", patch_size=2)


def test_target_side_starts_after_the_last_marker():
    seq, lens, _ = batch()
    side = target_side(seq, lens)
    assert side[0].tolist() == [False] * 8 + [True] * 4  # the transcript and <eos>
    assert side[1, :10].tolist() == [False] * 5 + [True] * 5  # the units and <eos>
    # no marker at all: everything is target side
    assert target_side(torch.tensor([[2, 7, 8, 2]]), torch.tensor([4])).all()


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_zero_prompt_weight_is_the_mean_target_side_nll(kind):
    seq, lens, seg = batch()
    model = build(kind, 0.0).eval()
    loss, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
    lp = model.token_logprobs(seq, lens, seg)  # (B, T), 0 at t = 0 and on padding
    side = target_side(seq, lens) & (torch.arange(seq.shape[1])[None] < lens[:, None])
    expected = -lp[side].sum() / side.sum()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    # the full-sequence loss (weight 1) differs: the prompt is most of the sequence
    full = build(kind, 1.0).eval()
    loss_full, _, _ = full(seq=seq, seq_lengths=lens, seg_start=seg)
    valid = torch.arange(seq.shape[1])[None].expand_as(seq)
    valid = (valid >= 1) & (valid < lens[:, None])
    torch.testing.assert_close(loss_full.detach(), -lp[valid].sum() / valid.sum(), rtol=1e-5, atol=1e-6)
    assert abs(float(loss_full.detach()) - float(loss.detach())) > 1e-4


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_fractional_prompt_weight_is_a_weighted_mean(kind):
    seq, lens, seg = batch()
    half = build(kind, 0.5)
    loss_half, _, _ = half(seq=seq, seq_lengths=lens, seg_start=seg)
    lp = half.token_logprobs(seq, lens, seg)
    side = target_side(seq, lens)
    valid = torch.arange(seq.shape[1])[None].expand_as(seq)
    valid = (valid >= 1) & (valid < lens[:, None])
    w = torch.where(side, 1.0, 0.5) * valid
    torch.testing.assert_close(loss_half.detach(), -(lp * w).sum() / w.sum(), rtol=1e-5, atol=1e-6)
