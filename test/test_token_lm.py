"""TokenLM: the ESPnet interface, loss bookkeeping, causality, batching and learning."""
import pytest
import torch

from lst.benchmarks.train import random_batch
from lst.models.token_lm import TokenLM

V, OFF, K = 40, 20, 20  # 5 specials + 15 text pieces + 20 units

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def tiny(**kw):
    torch.manual_seed(0)
    conf = dict(d_model=32, n_layers=2, n_heads=2, dropout=0.0, max_len=128)
    conf.update(kw)
    return TokenLM(V, OFF, K, **conf)


def test_forward_interface_and_stats():
    model = tiny()
    seq, lens, seg = random_batch(3, 40, OFF, K, seed=1, min_len=20, speech_frac=0.6)
    loss, stats, weight = model(seq=seq, seq_lengths=lens, seg_start=seg)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert int(weight) == 3
    for key in ["loss", "loss_text", "loss_speech", "acc", "gflops_global", "gflops_local_enc", "gflops_local_dec"]:
        assert key in stats
    # an untrained model is close to uniform over the vocabulary
    assert abs(float(loss.detach()) - torch.log(torch.tensor(float(V)))) < 0.5
    loss.backward()
    assert model.embed.weight.grad is not None
    assert model.collect_feats(seq=seq, seq_lengths=lens) == {}


def test_loss_is_mean_of_token_logprobs():
    model = tiny()
    seq, lens, seg = random_batch(3, 40, OFF, K, seed=2, min_len=10, speech_frac=0.6)
    lp = model.token_logprobs(seq, lens, seg)
    assert lp.shape == seq.shape
    assert torch.all(lp[:, 0] == 0)
    for b, n in enumerate(lens.tolist()):
        assert torch.all(lp[b, n:] == 0)
        assert torch.all(lp[b, 1:n] < 0)
    loss, stats, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
    n_targets = int((lens - 1).sum())
    assert torch.allclose(loss, -lp.sum() / n_targets, atol=1e-5)
    unit = (seq >= OFF) & (lp != 0)
    assert torch.allclose(stats["loss_speech"], -lp[unit].mean(), atol=1e-5)


def test_padding_does_not_change_logprobs():
    model = tiny()
    seq, lens, seg = random_batch(2, 40, OFF, K, seed=3, min_len=15)
    batched = model.token_logprobs(seq, lens, seg)
    for b in range(2):
        n = int(lens[b])
        alone = model.token_logprobs(seq[b : b + 1, :n], lens[b : b + 1], seg[b : b + 1, :n])
        assert torch.allclose(batched[b, :n], alone[0], atol=1e-5)


def test_causality_future_perturbation():
    model = tiny()
    seq, lens, seg = random_batch(1, 48, OFF, K, seed=4)
    base = model.token_logprobs(seq, lens, seg)
    g = torch.Generator().manual_seed(0)
    for cut in [5, 20, 40]:
        pert = seq.clone()
        pert[0, cut + 1 :] = torch.randint(1, V, (48 - cut - 1,), generator=g)
        out = model.token_logprobs(pert, lens, seg)
        assert torch.allclose(out[0, : cut + 1], base[0, : cut + 1], atol=1e-6)
        assert not torch.allclose(out[0, cut + 1 :], base[0, cut + 1 :])


def test_flops_grow_with_length():
    model = tiny()
    f = model.flops_per_sequence(torch.zeros(2, 10, dtype=torch.long), torch.tensor([5, 10]), None)
    assert f["global"][1] > 2 * f["global"][0] * 0.99 and float(f["local_enc"].sum()) == 0.0


def test_overfits_a_batch():
    model = tiny(d_model=48)
    seq, lens, seg = random_batch(4, 32, OFF, K, seed=5, min_len=24)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, _, _ = model(seq=seq, seq_lengths=lens, seg_start=seg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < 0.6 * first


def test_max_len_is_enforced():
    model = tiny(max_len=16)
    seq, lens, seg = random_batch(1, 20, OFF, K)
    with pytest.raises(ValueError):
        model(seq=seq, seq_lengths=lens, seg_start=seg)
