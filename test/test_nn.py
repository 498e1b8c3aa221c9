"""Building blocks: norms, RoPE, causal / sliding-window attention, KV cache, cross-attention."""
import pytest
import torch

from lst.nn import CrossAttention, RMSNorm, Rotary, SelfAttention, Transformer, causal_mask

D, H = 16, 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rmsnorm_unit_rms():
    x = torch.randn(3, 5, D) * 7
    y = RMSNorm(D)(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(3, 5), atol=1e-3)


def test_rope_scores_depend_only_on_relative_position():
    rope = Rotary(8, 64)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    s1 = (rope(q, 5) * rope(k, 2)).sum()
    s2 = (rope(q, 40) * rope(k, 37)).sum()
    assert torch.allclose(s1, s2, atol=1e-5)
    with pytest.raises(ValueError):
        rope(q, 64)


def test_causal_mask_with_window():
    m = causal_mask(0, 5, 0, 5, window=2, device="cpu")
    assert m.tolist()[3] == [False, False, True, True, False]
    assert causal_mask(4, 1, 0, 5, None, "cpu").all()


@pytest.mark.parametrize("window", [None, 3])
def test_attention_sees_no_future_and_nothing_beyond_window(window):
    torch.manual_seed(0)
    attn = SelfAttention(D, H, 64, window=window).eval()
    x = torch.randn(1, 10, D)
    y = attn(x)
    x2 = x.clone()
    x2[0, 6:] = torch.randn(4, D)  # future of position 5
    assert torch.allclose(attn(x2)[0, :6], y[0, :6], atol=1e-6)
    x3 = x.clone()
    x3[0, 0] = torch.randn(D)  # position 0 is outside the window of position 9
    changed = not torch.allclose(attn(x3)[0, 9], y[0, 9], atol=1e-6)
    assert changed == (window is None)


@pytest.mark.parametrize("window,cross", [(None, False), (3, False), (4, True)])
def test_kv_cache_matches_full_forward(window, cross):
    torch.manual_seed(0)
    net = Transformer(D, 2, H, 64, window=window, cross_dim=D if cross else None, ffn_multiple_of=16).eval()
    L, S = 12, 6
    x = torch.randn(2, L, D)
    mem = torch.randn(2, S, D) if cross else None
    # position t sees memory slots [lo, hi): a window of 2 slots ending at t // 2 (none at t = 0, 1)
    t = torch.arange(L)
    hi = (t // 2).clamp(max=S)[None].expand(2, L)
    lo = (hi - 2).clamp(min=0)
    full = net(x, mem=mem, mem_lo=lo if cross else None, mem_hi=hi if cross else None)
    cache = net.new_cache()

    def kvs(i):  # what position i may see, as precomputed keys/values
        return net.cross_kvs(mem[:, int(lo[0, i]): int(hi[0, i])]) if cross else None

    steps = [net(x[:, :5], cache, mem=mem, mem_lo=lo[:, :5] if cross else None, mem_hi=hi[:, :5] if cross else None)]
    for i in range(5, L):  # a prefill of 5 positions, then one at a time
        steps.append(net(x[:, i: i + 1], cache, mem_kvs=kvs(i)))
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    if window is not None:  # the cache keeps only what the window can still see
        assert cache.layers[0].k.shape[2] <= window + 1


@pytest.mark.parametrize("T,S,block", [(10, 7, 3), (33, 20, 8), (5, 4, 64)])
def test_banded_attention_equals_masked_attention(T, S, block):
    import torch.nn.functional as F

    from lst.nn.attention import banded_attention

    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, T, 4), torch.randn(2, 2, S, 4), torch.randn(2, 2, S, 4)
    hi = torch.sort(torch.randint(0, S + 1, (2, T)), 1).values
    lo = torch.minimum(torch.sort(torch.randint(0, S + 1, (2, T)), 1).values, hi)
    lo[:, :2] = hi[:, :2] = 0  # rows with nothing visible get 0
    pos = torch.arange(S)
    mask = (pos[None, None] >= lo[..., None]) & (pos[None, None] < hi[..., None])  # (B, T, S)
    empty = ~mask.any(-1)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=(mask | empty[..., None])[:, None])
    ref = ref * (~empty)[:, None, :, None]
    torch.testing.assert_close(banded_attention(q, k, v, lo, hi, block), ref, atol=1e-6, rtol=1e-5)


def test_cross_attention_ignores_masked_memory():
    torch.manual_seed(0)
    ca = CrossAttention(D, H).eval()
    q = torch.randn(3, 1, D)
    mem = torch.randn(3, 4, D)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    y = ca(q, mem, mask)
    mem2 = mem.clone()
    mem2[0, 2:] = 100.0
    mem2[1, 1:] = -5.0
    assert torch.allclose(ca(q, mem2, mask)[:2], y[:2], atol=1e-6)


@pytest.mark.parametrize("L,w", [(10, 3), (64, 64), (100, 7), (5, 8)])
def test_blocked_sliding_window_equals_masked_attention(L, w):
    import torch.nn.functional as F

    from lst.nn.attention import sliding_window_attention

    q, k, v = torch.randn(3, 2, 2, L, 4).unbind(0)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(0, L, 0, L, w, "cpu"))
    assert torch.allclose(sliding_window_attention(q, k, v, w), ref, atol=1e-6)


@pytest.mark.parametrize("window", [None, 4])
def test_stack_step_matches_module_forward_with_cache(window):
    # the decoding fast path (complex-multiply RoPE, window keys sliced instead of masked,
    # precomputed cross-attention K/V) gives the module path's values, position by position
    from lst.nn.step import stack_step

    torch.manual_seed(0)
    t = Transformer(D, 2, H, 64, window=window, cross_dim=D, ffn_multiple_of=16).eval()
    x, mem = torch.randn(1, 12, D), torch.randn(1, 2, D)
    slow, fast = t.new_cache(), t.new_cache()
    with torch.no_grad():
        kvs = t.cross_kvs(mem)
        for i in range(12):
            a = t(x[:, i:i + 1], cache=slow, mem=mem)
            b = stack_step(t, x[:, i:i + 1], fast, kvs)
            torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    assert slow.length == fast.length == 12


def test_rope_fast_path_matches_rotary():
    from lst.nn.step import _rope_qk

    attn = SelfAttention(D, H, 64)
    qk = torch.randn(2, 1, H, 3, D // H)
    ref = torch.stack([attn.rope(qk[0], 7), attn.rope(qk[1], 7)])
    torch.testing.assert_close(_rope_qk(attn, qk, 7), ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("n_units", [1, 3, 6])
@pytest.mark.parametrize("k", [1, 2])
def test_patch_step_matches_patch_encoder(n_units, k):
    from lst.models.lst_model import PatchEncoder
    from lst.nn.step import patch_step

    torch.manual_seed(0)
    enc = PatchEncoder(D, 2 * D, H, k).eval()
    h = torch.randn(n_units + 3, D)  # the patch is tokens 2 .. n_units + 1 of a longer sequence
    tok = torch.arange(2, n_units + 2)[None]
    with torch.no_grad():
        ref = enc(h, tok, torch.ones(1, n_units, dtype=torch.bool))
        torch.testing.assert_close(patch_step(enc, h[None, 2: n_units + 2]), ref, atol=1e-6, rtol=1e-5)
    assert ref.shape == (1, 2 * D) and (enc.out is None) == (k == 2)  # k * D == 2D: concatenation only


def test_swiglu_hidden_rule():
    from lst.nn.mlp import MLP, swiglu_hidden

    assert swiglu_hidden(2048) == 5632 and swiglu_hidden(1024) == 2816  # the paper's 1B model
    m = MLP(16, multiple_of=16)
    assert m.hidden == 48 and m.w1.weight.shape == (48, 16)


def test_paper_init_scales_output_projections_with_depth():
    from lst.nn import init_weights

    torch.manual_seed(0)
    t = Transformer(256, 4, 4, 16)
    init_weights(t)
    std_q = t.blocks[3].attn.qkv.weight.std().item()
    assert abs(std_q - 256 ** -0.5) < 0.1 * 256 ** -0.5
    for i in (0, 3):
        w = t.blocks[i].attn.out.weight
        expect = 256 ** -0.5 / (2 * (i + 1)) ** 0.5
        assert abs(w.std().item() - expect) < 0.15 * expect
