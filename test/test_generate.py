"""Generation: the cached incremental path must reproduce the full-recompute path exactly,
and LST must take one global step per patch."""
import pytest
import torch

from lst.models.generate import LSTStream, generate
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

V, OFF, K = 40, 20, 20

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT = [2, 4, OFF + 3, OFF + 5, OFF + 5, OFF + 1, 3, 7, 9, 4, OFF + 2]  # <sos> <s> u u u u <t> a b <s> u


def lst(patching, **kw):
    torch.manual_seed(0)
    conf = dict(curriculum_steps=[1, 2], d_model=32, n_layers=2, n_heads=2, local_d_model=16, local_heads=2, window=5,
                patching=patching, patch_size=3, max_patch_len=4, silence_units=[0, 1, 2, 3], max_len=256,
                ffn_multiple_of=16, decoder_window=3)
    conf.update(kw)
    model = LSTModel(V, OFF, K, **conf)
    # random but sharper weights than init, so sampled continuations mix text and speech
    with torch.no_grad():
        model.head.weight.mul_(5)
        if model.boundary_head is not None:
            model.boundary_head.bias.fill_(0.0)
            model.boundary_head.weight.mul_(50)
    return model


@pytest.mark.parametrize("greedy", [True, False])
def test_token_lm_cache_matches_recompute(greedy):
    torch.manual_seed(0)
    model = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=256, ffn_multiple_of=16)
    a = generate(model, PROMPT, 40, greedy=greedy, seed=3, use_cache=True, stop_at_eos=False)
    b = generate(model, PROMPT, 40, greedy=greedy, seed=3, use_cache=False, stop_at_eos=False)
    assert a["ids"] == b["ids"] and len(a["ids"]) == len(PROMPT) + 40
    assert a["global_steps"] == len(a["ids"]) - 1  # one step per token


@pytest.mark.parametrize("patching", ["static", "aligned", "silence", "curriculum"])
@pytest.mark.parametrize("greedy", [True, False])
def test_lst_cache_matches_recompute(patching, greedy):
    model = lst(patching)
    flags = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    a = generate(model, PROMPT, 30, prompt_seg_start=flags, greedy=greedy, seed=5, use_cache=True, stop_at_eos=False)
    b = generate(model, PROMPT, 30, prompt_seg_start=flags, greedy=greedy, seed=5, use_cache=False, stop_at_eos=False)
    assert a["ids"] == b["ids"] and a["seg_start"] == b["seg_start"]
    assert len(a["ids"]) == len(PROMPT) + 30
    torch.testing.assert_close(torch.tensor(a["logprobs"]), torch.tensor(b["logprobs"]), atol=1e-5, rtol=1e-5)
    # re-scoring the output gives the log-probs the generation sampled from, token by token
    ids = torch.tensor([a["ids"]])
    mode = "static" if patching == "curriculum" else patching
    lp = model.token_logprobs(ids, torch.tensor([ids.shape[1]]), torch.tensor([a["seg_start"]]), [mode])
    torch.testing.assert_close(lp[0, len(PROMPT):], torch.tensor(a["logprobs"]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("greedy", [True, False])
def test_token_lm_rescoring_matches_generation(greedy):
    torch.manual_seed(0)
    model = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=256, ffn_multiple_of=16)
    a = generate(model, PROMPT, 25, greedy=greedy, seed=2, stop_at_eos=False)
    ids = torch.tensor([a["ids"]])
    lp = model.token_logprobs(ids, torch.tensor([ids.shape[1]]))
    torch.testing.assert_close(lp[0, len(PROMPT):], torch.tensor(a["logprobs"]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prompt", [PROMPT, PROMPT[:-1], [OFF + 4, OFF + 1, 3, 4, OFF + 2, OFF + 3, OFF + 3]])
def test_lst_parallel_prefill_matches_token_by_token(prompt):
    model = lst("static").eval()
    with torch.no_grad():
        a, b = LSTStream(model, "static"), LSTStream(model, "static")
        la = a.prefill(prompt)
        for tok in prompt:
            lb, _ = b.feed(tok)
        torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)
        assert a.global_steps == b.global_steps and a.open_units == b.open_units
        for tok in [OFF + 1, OFF + 2, 5, OFF + 7, OFF + 7, OFF + 7, OFF + 7]:  # and the streams stay equal
            torch.testing.assert_close(a.feed(tok)[0], b.feed(tok)[0], atol=1e-5, rtol=1e-5)


def test_lst_greedy_makes_one_global_step_per_patch():
    model = lst("static")
    bias = torch.zeros(V)
    bias[OFF + 7] = 100.0  # force speech: the head always says unit 7
    model.head.register_forward_hook(lambda mod, inp, out: out + bias)
    out = generate(model, [2, 4, OFF + 1], 23, use_cache=True, stop_at_eos=False)
    assert out["ids"][3:] == [OFF + 7] * 23
    # <sos>, <s>, then one global step per complete patch of 3 units: 24 units -> 8 steps
    assert out["global_steps"] == 2 + 8
    ref = generate(model, [2, 4, OFF + 1], 23, use_cache=False, stop_at_eos=False)
    assert ref["ids"] == out["ids"]


def test_aligned_boundary_head_decides_patch_ends():
    model = lst("aligned", max_patch_len=8)
    stream = LSTStream(model.eval(), "aligned")
    with torch.no_grad():
        stream.feed(2)
        stream.feed(4)
        model.boundary_head.weight.zero_()
        model.boundary_head.bias.fill_(10.0)  # always "new word"
        for u in range(5):
            _, flag = stream.feed(OFF + u)
            assert flag == 1
        assert stream.global_steps == 2 + 4  # every unit closed the previous one-unit patch
        model.boundary_head.bias.fill_(-10.0)  # never: patches close only at max_patch_len
        for u in range(8):
            _, flag = stream.feed(OFF + u)
            assert flag == 0
        assert stream.global_steps == 2 + 4 + 1  # the open 1-unit patch grows to the cap of 8 and closes


def test_aligned_generation_needs_a_boundary_head():
    model = lst("aligned", boundary_head=False).eval()
    stream = LSTStream(model, "aligned")
    with torch.no_grad(), pytest.raises(ValueError, match="boundary_head"):
        for tok in [2, 4, OFF + 1, OFF + 2]:
            stream.feed(tok)
