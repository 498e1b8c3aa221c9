"""The FLOP formulas (lst/models/flops.py) against torch's own FLOP counter.

Linear layers are checked EXACTLY: FlopCounterMode's mm/addmm FLOPs of one forward +
backward equal 3 x the formula's linear part, for both models (one unpadded sequence, so
the executed shapes are the real ones). Attention is counted by the formula over the
(query, key) pairs the masks allow (what a masked/flex kernel computes); the test recomputes
those pairs from the masks' own definitions. FlopCounterMode cannot check that part: it
counts dense kernels over every pair (blocked windows, padded patches) and does not count
the fused causal CPU kernel at all (0 FLOPs for ``_scaled_dot_product_flash_attention_for_cpu``)."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lst.benchmarks.train import random_batch
from lst.models.flops import TRAIN_FACTOR, causal_keys, lst_detail, token_lm_detail
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

V, OFF, K = 60, 30, 30

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _count(model, seq, lens, seg):
    model.train()
    with FlopCounterMode(display=False) as fc:
        loss, _, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        loss.backward()
    counts = fc.get_flop_counts()["Global"]
    aten = torch.ops.aten
    return sum(v for op, v in counts.items() if op in (aten.mm, aten.addmm))


@pytest.mark.parametrize("k,local_d,patching", [(2, 16, "static"), (1, 16, "aligned"), (3, 8, "silence")])
def test_lst_formula_matches_flop_counter(k, local_d, patching):
    torch.manual_seed(0)
    model = LSTModel(V, OFF, K, d_model=32, n_layers=2, n_heads=2, local_d_model=local_d, local_heads=2,
                     local_enc_layers=1, local_dec_layers=2, window=8, patch_vectors=k, decoder_window=3,
                     patching=patching, patch_size=3, silence_units=[0, 1], ffn_multiple_of=16, max_len=256)
    seq, lens, seg = random_batch(1, 70, OFF, K, seed=3, speech_frac=0.6)
    linear = _count(model, seq, lens, seg)
    plan = model.plan(seq, lens, seg)
    c = plan.counts
    d = lst_detail(c["tokens"], c["patches"], c["targets"], c["dec_slots"], 32, 2, local_d, 1, 2, 8, k, V,
                   ffn_hidden=model.glob.blocks[0].mlp.hidden, local_ffn_hidden=model.local_enc.blocks[0].mlp.hidden,
                   n_boundary=c["boundary"])
    assert linear == pytest.approx(TRAIN_FACTOR * float(sum(p["linear"] for p in d.values())), rel=1e-12)
    # attention: the allowed pairs, from the masks' definitions
    n, P = int(lens[0]), int(c["patches"][0])
    ctx = plan.ctx[0, :n]
    window_pairs = sum(min(t + 1, 8) for t in range(n))
    dec_pairs = k * int(sum(min(3, int(x) + 1) for x in ctx))
    expect = {"global": 2 * P * (P + 1) / 2 * 4 * 32, "local_enc": window_pairs * 4 * local_d,
              "patch_enc": k * n * 4 * local_d, "dec_cross": 2 * dec_pairs * 4 * local_d,
              "local_dec": 2 * window_pairs * 4 * local_d, "head": 0.0}
    for part, value in expect.items():
        assert float(d[part]["attn"]) == pytest.approx(value, rel=1e-12), part
    # and model.flops_per_sequence is the same formula, in three parts
    parts = model.flops_per_sequence(seq, lens, seg)
    total = TRAIN_FACTOR * float(sum(p["linear"] + p["attn"] for p in d.values()))
    assert float(sum(v.sum() for v in parts.values())) == pytest.approx(total, rel=1e-12)


def test_token_lm_formula_matches_flop_counter():
    torch.manual_seed(0)
    model = TokenLM(V, OFF, K, d_model=32, n_layers=3, n_heads=2, ffn_multiple_of=16, max_len=256)
    seq, lens, seg = random_batch(1, 50, OFF, K, seed=4)
    linear = _count(model, seq, lens, seg)
    d = token_lm_detail(lens, 32, 3, V, ffn_hidden=model.decoder.blocks[0].mlp.hidden)
    assert linear == pytest.approx(TRAIN_FACTOR * float(sum(p["linear"] for p in d.values())), rel=1e-12)
    assert float(d["global"]["attn"]) == pytest.approx(3 * 4 * 32 * float(causal_keys(lens.double())), rel=1e-12)
    parts = model.flops_per_sequence(seq, lens, seg)
    assert float(parts["global"]) == pytest.approx(TRAIN_FACTOR * float(sum(p["linear"] + p["attn"]
                                                                            for p in d.values())), rel=1e-12)


def test_model_info_paper_1b_layouts(capsys):
    """The paper's 1B configs, built on the meta device: parameter counts next to the spec's
    figures (LST ~1.53B, baseline ~1.42B, spec 2.1), and the CLI prints them."""
    from pathlib import Path

    import yaml

    from lst.bin.model_info import main
    from lst.models.info import model_info

    conf_dir = Path(__file__).resolve().parents[1] / "egs/storycloze/lst1/conf"
    lst = yaml.safe_load((conf_dir / "paper_1b_lst.yaml").read_text())
    info = model_info(lst["model"], lst["model_conf"], speech_fracs=(0.0, 0.77))
    p = info["params"]
    assert abs(p["total"] / 1e9 - 1.53) < 0.01 and abs(p["global"] / 1e9 - 1.285) < 0.001
    assert p["global"] + p["local_encoder"] + p["local_decoder"] + p["embeddings_and_head"] == p["total"]
    # interleaved speech: static 4 makes ~0.43 global positions per token; text: one per token
    assert info["flops"][0.0]["global_positions_per_token"] == 1.0
    assert 0.4 < info["flops"][0.77]["global_positions_per_token"] < 0.45
    assert main(["--config", str(conf_dir / "paper_1b_token_lm.yaml"), "--speech_frac", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "1,417.8 M" in out and "total" in out
