"""LSTModel: interface, the paper's token path, exact causality, packing, batching,
curriculum switching and its update clock, learning."""
import pytest
from conftest import REPO_ROOT
import torch

from lst.benchmarks.train import random_batch
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

V, OFF, K = 40, 20, 20

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIL = [0, 1]


def tiny(patching="static", **kw):
    torch.manual_seed(0)
    conf = dict(d_model=32, n_layers=2, n_heads=2, local_d_model=16, local_heads=2, window=6, patching=patching,
                patch_size=3, max_patch_len=4, silence_units=SIL, curriculum_steps=[2, 4], max_len=128,
                ffn_multiple_of=16, decoder_window=4)
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
    for name in ["embed.weight", "dec_proj.weight", "head.weight", "patch_enc.init_proj.weight",
                 "glob.blocks.0.attn.qkv.weight", "local_dec.blocks.0.cross.kv.weight", "local_enc.blocks.0.mlp.w1.weight"]:
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name
    # the boundary head exists (and trains) only where aligned generation needs it
    assert (model.boundary_head is not None) == (patching == "aligned")
    if patching == "aligned":
        assert "loss_boundary" in stats and model.boundary_head.weight.grad.abs().sum() > 0
    assert model.collect_feats(seq=seq, seq_lengths=lens) == {}


def test_text_and_units_share_one_embedding_and_one_head():
    model = tiny()
    embeds = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == V]
    assert embeds == [model.embed] and embeds[0].num_embeddings == V
    assert heads == [model.head]
    assert not hasattr(model, "token_embed") and not hasattr(model, "local_head")


@pytest.mark.parametrize("part", ["local_enc", "local_dec", "embed", "head"])
def test_randomising_local_models_changes_text_only_logprobs(part):
    """Text goes through the local encoder and decoder (the paper's token path)."""
    model = tiny()
    seq = torch.tensor([[2, 3, 7, 8, 9, 11, 6, 2]])
    lens = torch.tensor([8])
    base = model.token_logprobs(seq, lens)
    with torch.no_grad():
        for p in getattr(model, part).parameters():
            p.add_(torch.randn_like(p) * 0.5)
    assert not torch.allclose(model.token_logprobs(seq, lens)[0, 1:], base[0, 1:], atol=1e-3)


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
    proper LM (same support as the baseline)."""
    model = tiny()
    seq, lens, seg = batch(3, B=1)
    n = int(lens[0])
    lp = model.token_logprobs(seq, lens, seg)
    for t in [0, 3, 10, n - 2]:
        prefix = seq[:, : t + 1]
        logits, _ = model.next_logits(prefix, torch.tensor([t + 1]), seg[:, : t + 1])
        assert torch.allclose(torch.logsumexp(torch.log_softmax(logits, -1), -1), torch.zeros(1), atol=1e-5)
        assert torch.allclose(torch.log_softmax(logits, -1)[0, seq[0, t + 1]], lp[0, t + 1], atol=1e-5)


def _perturb(seq, seg, cut, gen, keep_modality):
    """Every position after `cut` gets a random id (keep_modality: of the same kind) and a
    random alignment flag."""
    pert, pseg = seq.clone(), seg.clone()
    n = seq.shape[1]
    rand_unit = torch.randint(OFF, V, (n,), generator=gen)
    rand_tok = torch.randint(1, OFF, (n,), generator=gen)
    rand_any = torch.randint(1, V, (n,), generator=gen)
    rand_flag = torch.randint(0, 2, (n,), generator=gen)
    for t in range(cut + 1, n):
        if keep_modality:
            pert[0, t] = rand_unit[t] if seq[0, t] >= OFF else rand_tok[t]
        else:
            pert[0, t] = rand_any[t]
        pseg[0, t] = rand_flag[t]
    return pert, pseg


CAUSAL_CASES = [("static", False, {}), ("silence", False, {}), ("aligned", True, {}), ("aligned", False, {}),
                ("aligned", False, {"max_patch_len": None}), ("curriculum", False, {}),
                ("static", False, {"patch_vectors": 1, "decoder_window": 1}),
                ("static", False, {"patch_vectors": 3, "decoder_window": 2, "patch_size": 4})]


CAUSAL_PARAMS = ([(*case, "sos") for case in CAUSAL_CASES]
                 + [(*CAUSAL_CASES[i], first) for i in (0, 3) for first in ("unit", "text", "marker")])


@pytest.mark.parametrize("patching,keep_modality,kw,first", CAUSAL_PARAMS)
def test_causality_future_perturbation(patching, keep_modality, kw, first):
    """Change every position after `cut` (ids and alignment flags): log-probs up to `cut`
    must not move, for every cut, every patching, and sequences beginning with any token."""
    model = tiny(patching, **kw)
    seq, lens, seg = batch(4, B=1, T=36, min_len=36)
    seq[0, 0] = {"sos": 2, "unit": OFF + 5, "text": 9, "marker": 4}[first]
    seg[0, 0] = int(first == "unit")
    n = seq.shape[1]
    base = model.token_logprobs(seq, lens, seg)
    gen = torch.Generator().manual_seed(1)
    moved = 0
    for cut in range(0, n - 1):
        pert, pseg = _perturb(seq, seg, cut, gen, keep_modality)
        out = model.token_logprobs(pert, lens, pseg)
        assert torch.allclose(out[0, : cut + 1], base[0, : cut + 1], atol=1e-5), f"cut {cut}"
        moved += int(not torch.allclose(out[0, cut + 1:], base[0, cut + 1:]))
    assert moved == n - 1  # the test is not vacuous


def _latest_complete_patch(ids, flags, patching, p):
    """The spec's rule, written out per position -> (latest complete patch, own patch): a
    text token / marker is a complete 1-token patch; a unit is in a complete patch if it
    closed it by length (static: the p-th unit), otherwise the latest complete patch is the
    previous one. Aligned: a new patch at each flag (no length cap), static if the span's
    first flag is 0."""
    ctx, own, patch, run, span_mode = [], [], -1, 0, patching
    for x, f in zip(ids, flags):
        if x < OFF:
            patch, run = patch + 1, 0
            ctx.append(patch)
        else:
            if run == 0:
                span_mode = "static" if patching == "static" or not f else "aligned"
            new = run == 0 or (run % p == 0 if span_mode == "static" else bool(f))
            patch, run = patch + int(new), run + 1
            ctx.append(patch if span_mode == "static" and run % p == 0 else patch - 1)
        own.append(patch)
    return ctx, own


@pytest.mark.parametrize("patching,W", [("static", 1), ("static", 3), ("aligned", 2)])
def test_decoder_reads_exactly_the_latest_complete_patches(patching, W):
    """With 1-token local windows, the prediction at t depends on exactly the global states
    (c - W, c], c = the latest complete patch at t (the spec's rule, written out above):
    the gradient of each target's log-prob w.r.t. the global states is non-zero there and
    nowhere else (not the patch still open: causality; not only older ones: the state of
    patch j predicts the tokens of patch j + 1)."""
    model = tiny(patching, window=1, decoder_window=W, max_patch_len=None)
    seq, lens, seg = batch(4, B=1, T=40, min_len=40, speech_frac=0.6)
    plan = model.plan(seq, lens, seg)
    glob_out = []
    hook = model.glob.register_forward_hook(lambda mod, inp, out: glob_out.append(out))
    with torch.enable_grad():
        logp, _, _, _ = model._targets(plan)
    hook.remove()
    ids = seq[0, : int(lens[0])].tolist()
    ctx, own = _latest_complete_patch(ids, seg[0].tolist(), patching, model.patcher.patch_size)
    for i, t in enumerate(plan.src.tolist()):
        (grad,) = torch.autograd.grad(logp[i], glob_out[0], retain_graph=True)
        seen = torch.nonzero(grad[0].abs().sum(-1)).flatten().tolist()
        assert seen == list(range(max(0, ctx[t] - W + 1), ctx[t] + 1)), t
    # not vacuous: units inside an open patch, and (static) units that close theirs by length
    units = [t for t in range(len(ids) - 1) if ids[t] >= OFF]
    assert sum(ctx[t] == own[t] - 1 for t in units) > 5
    assert patching != "static" or sum(ctx[t] == own[t] for t in units) > 3


def test_causality_of_token_lm_on_same_batch():
    torch.manual_seed(0)
    model = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128, ffn_multiple_of=16).eval()
    seq, lens, seg = batch(4, B=1, T=48, min_len=48)
    base = model.token_logprobs(seq, lens, seg)
    gen = torch.Generator().manual_seed(1)
    for cut in [1, 17, 30, 46]:
        out = model.token_logprobs(_perturb(seq, seg, cut, gen, False)[0], lens, seg)
        assert torch.allclose(out[0, : cut + 1], base[0, : cut + 1], atol=1e-5)


@pytest.mark.parametrize("patching", ["static", "aligned"])
def test_padding_and_batching_do_not_change_logprobs(patching):
    model = tiny(patching)
    seq, lens, seg = batch(5, B=3, T=40, min_len=12)
    batched = model.token_logprobs(seq, lens, seg)
    for b in range(3):
        n = int(lens[b])
        alone = model.token_logprobs(seq[b: b + 1, :n], lens[b: b + 1], seg[b: b + 1, :n])
        assert torch.allclose(batched[b, :n], alone[0], atol=1e-5)


def _packed(seed=6):
    """Two rows, each holding several documents (one begins with a unit), plus padding."""
    seq, lens, seg = random_batch(5, 14, OFF, K, seed=seed, min_len=6)
    seq[3, 0], seg[3, 0] = OFF + 2, 1  # a document that starts with a unit, after one that ends with <sos/eos>
    rows = [[0, 1, 2], [3, 4]]
    T = max(sum(int(lens[d]) for d in r) for r in rows) + 3
    pseq = torch.zeros(2, T, dtype=torch.long)
    pseg, pdoc = torch.zeros_like(pseq), torch.zeros_like(pseq)
    plen, spans = torch.zeros(2, dtype=torch.long), []
    for r, ds in enumerate(rows):
        t = 0
        for j, d in enumerate(ds):
            n = int(lens[d])
            pseq[r, t: t + n], pseg[r, t: t + n], pdoc[r, t: t + n] = seq[d, :n], seg[d, :n], j
            spans.append((r, t, d, n))
            t += n
        plen[r] = t
    return (pseq, plen, pseg, pdoc), (seq, lens, seg), spans


@pytest.mark.parametrize("kind", ["lst", "token_lm"])
def test_packed_batch_equals_each_document_alone(kind):
    if kind == "lst":
        model = tiny("static")
    else:
        torch.manual_seed(0)
        model = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128, ffn_multiple_of=16).eval()
    (pseq, plen, pseg, pdoc), (seq, lens, seg), spans = _packed()
    packed = model.token_logprobs(pseq, plen, pseg, doc_ids=pdoc)
    for r, t, d, n in spans:
        alone = model.token_logprobs(seq[d: d + 1, :n], lens[d: d + 1], seg[d: d + 1, :n])
        assert packed[r, t] == 0  # a document's first token is not a target
        torch.testing.assert_close(packed[r, t: t + n], alone[0], atol=1e-5, rtol=1e-5)
    # the training loss of the packed batch is the mean over the documents' targets
    loss, _, weight = model.train()(seq=pseq, seq_lengths=plen, seg_start=pseg, doc_ids=pdoc)
    model.eval()
    n_targets = sum(n - 1 for _, _, _, n in spans)
    torch.testing.assert_close(loss.detach(), -packed.sum() / n_targets, atol=1e-5, rtol=1e-5)
    assert int(weight) == 2


def test_packed_causality_nothing_crosses_documents():
    """Perturbing a later document (ids and flags) leaves every earlier position alone,
    and perturbing an earlier document leaves the later document alone."""
    model = tiny("aligned")
    (pseq, plen, pseg, pdoc), _, spans = _packed(seed=8)
    base = model.token_logprobs(pseq, plen, pseg, doc_ids=pdoc)
    gen = torch.Generator().manual_seed(2)
    for r, t, d, n in spans:
        pert, psg = pseq.clone(), pseg.clone()
        pert[r, t + 1: t + n] = torch.randint(1, V, (n - 1,), generator=gen)
        psg[r, t + 1: t + n] = torch.randint(0, 2, (n - 1,), generator=gen)
        out = model.token_logprobs(pert, plen, psg, doc_ids=pdoc)
        outside = torch.ones_like(base, dtype=torch.bool)
        outside[r, t + 1: t + n] = False
        torch.testing.assert_close(out[outside], base[outside], atol=1e-5, rtol=1e-5)


def _fit_debug_batch(model, steps):
    """AdamW (lr 3e-3) on one fixed batch for `steps` updates -> the training losses."""
    seq, lens, seg = batch(8, B=4, T=32, min_len=24)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss, _, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("k,local_d", [(1, 16), (2, 16), (4, 8)])
def test_k_patch_vectors_make_the_global_input_and_train(k, local_d):
    model = tiny("static", patch_vectors=k, local_d_model=local_d, d_model=32).train()
    # the global input is the concatenation of the k vectors; a projection only if k * dl != d
    assert (model.patch_enc.out is None) == (k * local_d == 32)
    assert model.patch_enc.init_proj.out_features == k * local_d and model.dec_proj.out_features == k * local_d
    losses = _fit_debug_batch(model, 40)
    assert losses[-1] < 0.7 * losses[0]


def test_boundary_loss_only_on_aligned_sequences():
    seq, lens, seg = batch(6, B=8)
    for patching, head, expect in [("aligned", None, True), ("aligned", False, False), ("curriculum", True, True),
                                   ("static", True, False)]:
        model = tiny(patching, boundary_head=head, curriculum_steps=[100, 200]).train()
        _, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        assert ("loss_boundary" in stats) == expect, (patching, head)


def test_curriculum_past_aligned_phase_is_the_static_objective():
    """Same weights: a curriculum model (with a boundary head) in its static phase computes
    exactly the loss of a plain static model (no boundary head, no boundary loss)."""
    cur = tiny("curriculum", boundary_head=True, curriculum_steps=[2, 4]).train()
    cur.step.fill_(4)
    static = tiny("static").train()
    missing, unexpected = static.load_state_dict(cur.state_dict(), strict=False)
    assert not missing and sorted(unexpected) == ["boundary_head.bias", "boundary_head.weight"]
    seq, lens, seg = batch(7, B=6)
    lc, sc, _ = cur(seq=seq, seq_lengths=lens, seg_start=seg)
    ls, ss, _ = static(seq=seq, seq_lengths=lens, seg_start=seg)
    assert float(sc["frac_aligned"]) == 0.0 and "loss_boundary" not in sc
    torch.testing.assert_close(lc, ls, atol=0, rtol=0)


def test_curriculum_clock_counts_updates_and_switches():
    from lst.train.trainer import count_optimizer_updates

    model = tiny("curriculum", curriculum_steps=[2, 6]).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    other = torch.optim.SGD(model.parameters(), lr=0.0)  # a second optimizer: one update, one tick
    hooks = count_optimizer_updates(model, [opt, other])
    seq, lens, seg = batch(6, B=8)
    fracs = []
    for i in range(16):  # accum_grad 2: an update every second forward
        loss, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        loss.backward()
        if i % 2 == 1:
            opt.step()
            other.step()
            opt.zero_grad()
            fracs.append(float(stats["frac_aligned"]))
    assert int(model.step) == 8
    assert fracs[0] == fracs[1] == 1.0 and fracs[6] == fracs[7] == 0.0
    model.eval()
    _, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
    assert float(stats["frac_aligned"]) == 0.0 and int(model.step) == 8  # eval: static, clock frozen
    resumed = tiny("curriculum", curriculum_steps=[2, 6])
    resumed.load_state_dict(model.state_dict())
    assert int(resumed.step) == 8  # the clock is in the checkpoint
    for h in hooks:
        h.remove()


def test_static_patching_shortens_the_global_sequence_and_flops():
    model = tiny(patch_size=4)
    torch.manual_seed(0)
    base = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128, ffn_multiple_of=16)
    seq, lens, seg = random_batch(2, 64, OFF, K, seed=7, speech_frac=1.0)
    plan = model.plan(seq, lens, seg)
    n_units = (seq >= OFF).sum(1).double()
    assert torch.all(plan.counts["patches"] <= lens - n_units + torch.ceil(n_units / 4) + 4)
    f_lst, f_tok = model.flops_per_sequence(seq, lens, seg), base.flops_per_sequence(seq, lens, seg)
    assert torch.all(f_lst["global"] < 0.5 * f_tok["global"])


def test_lst_learns_debug_batch():
    losses = _fit_debug_batch(tiny("static", d_model=48, local_d_model=24).train(), 60)
    assert losses[-1] < 0.6 * losses[0]


def test_paper_layout_benchmark_shapes_match_the_paper_config():
    import yaml

    from lst.benchmarks.train import PAPER_LAYOUT

    conf = yaml.safe_load((REPO_ROOT / "egs/storycloze/lst1/conf/paper_1b_lst.yaml").read_text())["model_conf"]
    for key in ("d_model", "n_heads", "local_d_model", "local_heads", "local_enc_layers", "local_dec_layers",
                "window", "patch_vectors", "decoder_window", "ffn_multiple_of"):
        assert PAPER_LAYOUT[key] == conf[key], key
    assert PAPER_LAYOUT["patch_vectors"] * PAPER_LAYOUT["local_d_model"] == PAPER_LAYOUT["d_model"]


def test_benchmark_bf16_path_measures_a_bf16_peak():
    from lst.benchmarks.train import run_train_benchmark

    r = run_train_benchmark(steps=1, warmup=0, batch_size=2, seq_len=64, d_model=32, n_layers=1, n_heads=2,
                            local_d_model=16, window=8, n_text=20, n_units=20, speech_span=(16, 32),
                            ffn_multiple_of=16, bf16=True, time_modules=False)
    assert r["config.bf16"] is True and r["config.device"] == "cpu"
    assert r["matmul_peak_gflops"] > 0 and r["lst.frac_of_peak"] > 0 and r["token_lm.frac_of_peak"] > 0


def test_benchmark_runs_both_models_on_the_same_batches():
    from lst.benchmarks.train import format_table, run_train_benchmark

    r = run_train_benchmark(steps=1, warmup=0, batch_size=2, seq_len=64, d_model=32, n_layers=2, n_heads=2,
                            local_d_model=16, window=8, n_text=20, n_units=20, speech_span=(16, 32), ffn_multiple_of=16)
    for name in ("token_lm", "lst"):
        assert r[f"{name}.tokens_per_s"] > 0 and r[f"{name}.train_gflops_per_seq"] > 0
    # static k=4 on speech-heavy batches: far fewer global steps
    assert r["lst.gflops_global_per_seq"] < 0.5 * r["token_lm.gflops_global_per_seq"]
    assert r["flop_ratio"] > 1.0
    assert r["matmul_peak_gflops"] > 0 and "LST/TokenLM" in format_table(r)
    assert 0 < r["lst.local_flop_share"] < 1 and 0 < r["lst.local_time_share"] < 1
    assert sum(v for k, v in r.items() if k.startswith("lst.time_share.")) <= 1.0


@pytest.mark.parametrize("kind", ["lst", "token_lm"])
def test_bf16_autocast_matches_fp32(kind):
    """model_conf bf16: true runs the forward under bf16 autocast (on a GPU; here on the
    CPU, which autocast also supports): the same weights give the fp32 log-probs to bf16
    precision, and a training step works."""
    if kind == "lst":
        ref, fast = tiny("static"), tiny("static", bf16=True)
    else:
        torch.manual_seed(0)
        ref = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128, ffn_multiple_of=16).eval()
        torch.manual_seed(0)
        fast = TokenLM(V, OFF, K, d_model=32, n_layers=2, n_heads=2, max_len=128, ffn_multiple_of=16, bf16=True).eval()
    fast.load_state_dict(ref.state_dict())
    seq, lens, seg = batch(9)
    a, b = ref.token_logprobs(seq, lens, seg), fast.token_logprobs(seq, lens, seg)
    assert a.dtype == b.dtype == torch.float32
    err = (a - b).abs().max()
    assert 0 < err < 0.1  # bf16 really ran (not bit-identical), and it is close
    loss, _, _ = fast.train()(seq=seq, seq_lengths=lens, seg_start=seg)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in fast.parameters() if p.grad is not None)


def test_old_cross_slots_key_names_its_new_name():
    from lst.train.config_check import ConfigError, check_model_conf

    with pytest.raises(ConfigError, match="renamed to 'patch_vectors'"):
        check_model_conf("lst", LSTModel, {"cross_slots": 2})
    check_model_conf("lst", LSTModel, {"patch_vectors": 2, "decoder_window": 8, "boundary_head": True, "bf16": False})
