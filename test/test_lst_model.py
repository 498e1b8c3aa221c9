"""LSTModel: interface, exact causality, batching, curriculum switching, learning."""
import pytest
import torch

from lst.models.benchmark import random_batch
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

V, OFF, K = 40, 20, 20

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIL = [0, 1]


def tiny(patching="static", **kw):
    torch.manual_seed(0)
    conf = dict(d_model=32, n_layers=2, n_heads=2, local_d_model=16, local_heads=2, window=6, patching=patching,
                patch_size=3, max_patch_len=4, silence_units=SIL, curriculum_steps=[2, 4], max_len=128)
    conf.update(kw)
    return LSTModel(V, OFF, K, **conf).eval()


def batch(seed, B=3, T=40, min_len=20, speech_frac=0.7):
    seq, lens, seg = random_batch(B, T, OFF, K, seed=seed, min_len=min_len, speech_frac=speech_frac)
    # make silence units frequent, in runs, so silence patching has something to fold
    g = torch.Generator().manual_seed(seed)
    runs = (seq >= OFF) & (torch.rand(seq.shape, generator=g) < 0.3)
    seq = torch.where(runs | runs.roll(1, 1), torch.where(seq >= OFF, torch.full_like(seq, OFF), seq), seq)
    return seq, lens, seg


@pytest.mark.parametrize("patching", ["static", "aligned", "curriculum", "silence"])
def test_forward_interface(patching):
    model = tiny(patching).train()
    seq, lens, seg = batch(1)
    loss, stats, weight = model(seq=seq, seq_lengths=lens, seg_start=seg)
    assert torch.isfinite(loss) and int(weight) == 3
    for key in ["loss", "loss_text", "loss_speech", "acc", "gflops_global", "gflops_local_enc", "gflops_local_dec"]:
        assert stats[key] is not None
    assert stats["gflops_local_enc"] > 0 and stats["gflops_local_dec"] > 0
    loss.backward()
    for name in ["unit_embed.weight", "token_embed.weight", "ctx_proj.weight", "local_head.weight",
                 "patch_enc.out.weight", "glob.blocks.0.attn.qkv.weight", "local_dec.blocks.0.cross.kv.weight"]:
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name
    if patching in ("aligned", "curriculum"):
        assert "loss_boundary" in stats and model.boundary_head.weight.grad.abs().sum() > 0
    assert model.collect_feats(seq=seq, seq_lengths=lens) == {}


@pytest.mark.parametrize("patching", ["static", "aligned", "silence"])
def test_loss_is_mean_of_token_logprobs(patching):
    model = tiny(patching, boundary_loss_weight=0.0)
    seq, lens, seg = batch(2)
    lp = model.token_logprobs(seq, lens, seg)
    assert torch.all(lp[:, 0] == 0)
    for b, n in enumerate(lens.tolist()):
        assert torch.all(lp[b, n:] == 0) and torch.all(lp[b, 1:n] < 0)
    loss, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
    assert torch.allclose(loss, -lp.sum() / (lens - 1).sum(), atol=1e-5)


def test_logprobs_are_a_distribution_over_the_joint_vocab():
    """At any prefix, the next-token distribution sums to 1 over all ids: the model is a
    proper LM (same support as the baseline), whichever module predicts."""
    model = tiny()
    seq, lens, seg = batch(3, B=1)
    n = int(lens[0])
    for t in [3, 10, n - 2]:
        prefix = seq[:, : t + 1]
        logits, _ = model.next_logits(prefix, torch.tensor([t + 1]), seg[:, : t + 1])
        assert torch.allclose(torch.logsumexp(torch.log_softmax(logits, -1), -1), torch.zeros(1), atol=1e-5)
        # and next_logits agrees with token_logprobs
        lp = model.token_logprobs(seq, lens, seg)
        assert torch.allclose(torch.log_softmax(logits, -1)[0, seq[0, t + 1]], lp[0, t + 1], atol=1e-5)


def _perturb(seq, cut, n, gen, keep_modality):
    pert = seq.clone()
    rand_unit = torch.randint(OFF, V, (n,), generator=gen)
    rand_tok = torch.randint(1, OFF, (n,), generator=gen)
    rand_any = torch.randint(1, V, (n,), generator=gen)
    for t in range(cut + 1, n):
        if keep_modality:
            pert[0, t] = rand_unit[t] if seq[0, t] >= OFF else rand_tok[t]
        else:
            pert[0, t] = rand_any[t]
    return pert


@pytest.mark.parametrize("patching,keep_modality", [("static", False), ("silence", False), ("aligned", True)])
def test_causality_future_perturbation(patching, keep_modality):
    """Change every position after `cut` (ids; for aligned the alignment flags are the
    given annotation and kept): log-probs up to `cut` must not move, for every cut."""
    model = tiny(patching)
    seq, lens, seg = batch(4, B=1, T=48, min_len=48)
    n = 48
    base = model.token_logprobs(seq, lens, seg)
    gen = torch.Generator().manual_seed(1)
    moved = 0
    for cut in range(1, n - 1):
        pert = _perturb(seq, cut, n, gen, keep_modality)
        out = model.token_logprobs(pert, lens, seg)
        assert torch.allclose(out[0, : cut + 1], base[0, : cut + 1], atol=1e-5), f"cut {cut}"
        moved += int(not torch.allclose(out[0, cut + 1 :], base[0, cut + 1 :]))
    assert moved == n - 2  # the test is not vacuous


def test_causality_of_token_lm_on_same_batch():
    torch.manual_seed(0)
    model = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128).eval()
    seq, lens, seg = batch(4, B=1, T=48, min_len=48)
    base = model.token_logprobs(seq, lens, seg)
    gen = torch.Generator().manual_seed(1)
    for cut in [1, 17, 30, 46]:
        out = model.token_logprobs(_perturb(seq, cut, 48, gen, False), lens, seg)
        assert torch.allclose(out[0, : cut + 1], base[0, : cut + 1], atol=1e-5)


@pytest.mark.parametrize("patching", ["static", "aligned"])
def test_padding_and_batching_do_not_change_logprobs(patching):
    model = tiny(patching)
    seq, lens, seg = batch(5, B=3, T=40, min_len=12)
    batched = model.token_logprobs(seq, lens, seg)
    for b in range(3):
        n = int(lens[b])
        alone = model.token_logprobs(seq[b : b + 1, :n], lens[b : b + 1], seg[b : b + 1, :n])
        assert torch.allclose(batched[b, :n], alone[0], atol=1e-5)


def test_curriculum_switches_from_aligned_to_static():
    model = tiny("curriculum", curriculum_steps=[2, 6]).train()
    seq, lens, seg = batch(6, B=8)
    fracs = []
    for _ in range(8):
        _, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        fracs.append(float(stats["frac_aligned"]))
    assert int(model.step) == 8
    assert fracs[0] == fracs[1] == 1.0 and fracs[6] == fracs[7] == 0.0
    assert all(a >= b - 0.5 for a, b in zip(fracs, fracs[1:]))  # falling (up to sampling noise)
    model.eval()
    _, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
    assert float(stats["frac_aligned"]) == 0.0 and int(model.step) == 8  # eval: static, step frozen
    state = model.state_dict()
    assert int(state["step"]) == 8  # resumed training continues the schedule


def test_static_patching_shortens_the_global_sequence_and_flops():
    model = tiny(patch_size=4)
    torch.manual_seed(0)
    base = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128)
    seq, lens, seg = random_batch(2, 64, OFF, K, seed=7, speech_frac=1.0)
    plan = model.plan(seq, lens, seg)
    n_units = (seq >= OFF).sum(1).double()
    assert torch.all(plan.counts["items"] <= lens - n_units + torch.ceil(n_units / 4) + 4)
    f_lst, f_tok = model.flops_per_sequence(seq, lens, seg), base.flops_per_sequence(seq, lens, seg)
    assert torch.all(f_lst["global"] < 0.5 * f_tok["global"])


def test_lst_learns_debug_batch():
    model = tiny("static", d_model=48, local_d_model=24).train()
    seq, lens, seg = batch(8, B=4, T=32, min_len=24)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, _, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]


def test_benchmark_runs_both_models_on_the_same_batches():
    from lst.models.benchmark import format_table, run_train_benchmark

    r = run_train_benchmark(steps=1, warmup=0, batch_size=2, seq_len=64, d_model=32, n_layers=2, n_heads=2,
                            local_d_model=16, window=8, n_text=20, n_units=20, speech_span=(16, 32))
    for name in ("token_lm", "lst"):
        assert r[f"{name}.tokens_per_s"] > 0 and r[f"{name}.train_gflops_per_seq"] > 0
    # static k=4 on speech-heavy batches: far fewer global steps
    assert r["lst.gflops_global_per_seq"] < 0.5 * r["token_lm.gflops_global_per_seq"]
    assert r["flop_ratio"] > 1.0
    assert r["matmul_peak_gflops"] > 0 and "LST/TokenLM" in format_table(r)
