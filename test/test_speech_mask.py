"""SpecAugment-style time masks on the speech prompt (lst/models/speech_mask.py, model_conf
speech_masks / speech_mask_width): where the spans fall, that only training forwards use them,
and that they change what both models compute from the masked units and nothing else."""
import pytest
import torch

from lst.models.ctc import s2t_masks
from lst.models.lst_model import LSTModel
from lst.models.speech_mask import speech_span_mask, training_speech_mask
from lst.models.token_lm import TokenLM
from lst.train.config_check import ConfigError, check_model_conf

V, OFF, K = 40, 20, 20  # 5 specials + 15 text pieces + 20 units

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# s2t: <sos> <s> units <t> text <eos>; t2s: <sos> <t> text <s> units <eos>; padded with 0
S2T = [2, 4] + [OFF + u for u in (3, 5, 5, 1, 7, 7, 2, 9, 4, 4)] + [3, 7, 9, 2]
T2S = [2, 3, 8, 6, 4] + [OFF + u for u in (2, 2, 9, 4)] + [2] + [0] * 6


def batch():
    return torch.tensor([S2T, T2S]), torch.tensor([len(S2T), 10])


def build(kind, masks=2, width=3, seed=0):
    torch.manual_seed(seed)
    common = dict(d_model=32, n_layers=2, n_heads=2, max_len=128, prompt_loss_weight=0.0, ctc_weight=0.3,
                  ctc_adapter_layers=1, speech_masks=masks, speech_mask_width=width)
    if kind == "token_lm":
        return TokenLM(V, OFF, K, **common)
    return LSTModel(V, OFF, K, **common, local_d_model=16, local_heads=2, window=8, patching="static", patch_size=2)


def spans(row):
    """Runs of True in a 1-D bool tensor -> [(start, length)]."""
    out, start = [], None
    for i, v in enumerate(row.tolist() + [False]):
        if v and start is None:
            start = i
        if not v and start is not None:
            out.append((start, i - start))
            start = None
    return out


def test_spans_stay_inside_the_speech_prompt_and_respect_the_width():
    seq, lens = batch()
    speech, _ = s2t_masks(seq, lens, OFF)
    g = torch.Generator().manual_seed(0)
    seen_widths = set()
    for _ in range(200):
        hidden = speech_span_mask(speech, 1, 4, generator=g)
        assert not (hidden & ~speech).any()  # never the text, the markers or the t2s row's units
        runs = spans(hidden[0])
        assert len(runs) <= 1 and all(w <= 4 for _, w in runs)
        seen_widths.add(runs[0][1] if runs else 0)
    assert seen_widths == {0, 1, 2, 3, 4}  # widths 0..max_width all drawn


def test_width_is_capped_at_the_rows_speech_and_zero_masks_mask_nothing():
    speech = torch.tensor([[False, True, True, False]])
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        hidden = speech_span_mask(speech, 3, 50, generator=g)
        assert not (hidden & ~speech).any()
    assert not speech_span_mask(speech, 0, 5).any() and not speech_span_mask(speech, 2, 0).any()
    with pytest.raises(ValueError, match="n_masks >= 0"):
        speech_span_mask(speech, -1, 5)


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_only_training_forwards_mask(kind):
    seq, lens = batch()
    model = build(kind)
    model.train()
    torch.manual_seed(3)
    hidden = training_speech_mask(model, seq, lens)
    assert hidden is not None and hidden.shape == seq.shape
    model.eval()
    assert training_speech_mask(model, seq, lens) is None
    off = build(kind, masks=0)
    off.train()
    assert training_speech_mask(off, seq, lens) is None


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_masking_changes_the_loss_and_reports_the_masked_fraction(kind):
    seq, lens = batch()
    model = build(kind, masks=2, width=4)
    model.train()
    for m in model.modules():  # no dropout: the only randomness left is the masks
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    torch.manual_seed(5)
    loss_masked, stats, _ = model(seq, lens)
    assert 0.0 < float(stats["speech_masked"]) <= 8 / 14  # 2 spans of <= 4 over 14 units in the batch
    model.speech_masks = 0
    loss_plain, stats_plain, _ = model(seq, lens)
    assert "speech_masked" not in stats_plain
    assert not torch.isclose(loss_masked, loss_plain)
    model.eval()  # eval ignores speech_masks entirely
    model.speech_masks = 2
    loss_eval, _, _ = model(seq, lens)
    assert torch.isclose(loss_eval, loss_plain)


def test_token_lm_masking_hides_only_the_chosen_positions():
    seq, lens = batch()
    model = build("token_lm")
    model.eval()
    hidden = torch.zeros_like(seq, dtype=torch.bool)
    hidden[0, 6] = True
    plain = model.states(seq)
    masked = model.states(seq, hidden=hidden)
    # causal: positions before the hidden one are unchanged, the rest of row 0 changes, row 1 does not
    assert torch.allclose(plain[0, :6], masked[0, :6])
    assert not torch.allclose(plain[0, 6:], masked[0, 6:])
    assert torch.allclose(plain[1], masked[1])


def test_config_check_refuses_negative_mask_settings():
    with pytest.raises(ConfigError, match="speech_masks"):
        check_model_conf("token_lm", TokenLM, {"speech_masks": -1})
    with pytest.raises(ConfigError, match="speech_mask_width"):
        check_model_conf("lst", LSTModel, {"speech_mask_width": -2})
    check_model_conf("lst", LSTModel, {"speech_masks": 2, "speech_mask_width": 10})
