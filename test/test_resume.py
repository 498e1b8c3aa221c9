"""Training survives kill -9: atomic checkpoint writes, resume, and exact loss reproduction.

The end-to-end test runs real ``python -m lst.bin.lst_train`` processes on a toy corpus:
an uninterrupted reference run, then a run that is SIGKILLed *while writing* checkpoint.pth,
a resumed run that is SIGKILLed *mid-epoch* by the test, and a final resumed run. The
per-epoch train/valid losses of the interrupted-and-resumed training must equal the
reference's (same seed; ESPnet reseeds every epoch and the batch order is seeded).
"""
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lst.tasks.toy import epoch_losses, subprocess_env, write_toy_experiment
from lst.train.trainer import LSTTrainer, atomic_torch_save, checkpoint_problem

MAX_EPOCH = 4

# Run inside the training process: the second write of checkpoint.pth puts half of the real
# bytes on disk (flushed and fsynced) and then the process SIGKILLs itself mid-write.
CRASH_IN_SAVE = """
import io, os, signal, sys
import lst.train.trainer as T
real, calls = T._torch_save, []
def crashing_save(obj, f, *a, **k):
    if isinstance(obj, dict) and "reporter" in obj:
        calls.append(1)
        if len(calls) == 2:
            buf = io.BytesIO(); real(obj, buf, *a, **k); data = buf.getvalue()
            f.write(data[: len(data) // 2]); f.flush(); os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *a, **k)
T._torch_save = crashing_save
from lst.bin.lst_train import main
main(sys.argv[1:])
"""


def _train(argv, out, prefix=(), **kw):
    cmd = [sys.executable, *prefix] if prefix else [sys.executable, "-m", "lst.bin.lst_train"]
    return subprocess.Popen([*cmd, *argv, "--output_dir", str(out), "--resume", "true"],
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


def _reporter_epoch(out):
    return max(epoch_losses(out))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    work = tmp_path_factory.mktemp("resume")
    # 400 sequences in batches of 4: ~100 steps, an epoch of 1-2 s on a 2-core CPU
    return work, write_toy_experiment(work, n_train=400, batch_size=4, max_epoch=MAX_EPOCH)


@pytest.mark.slow  # four training processes: ~1 min idle, ~2.5 min on a loaded 2-core machine
def test_kill9_anywhere_then_resume_reproduces_losses(toy):
    work, argv = toy
    t0 = time.time()
    ref = work / "ref"
    p = _train(argv, ref)
    out, _ = p.communicate(timeout=900)
    assert p.returncode == 0, out
    reference = {ph: epoch_losses(ref, ph) for ph in ("train", "valid")}
    assert sorted(reference["train"]) == list(range(1, MAX_EPOCH + 1))
    t_ref = time.time() - t0

    # 1. killed while writing epoch 2's checkpoint.pth: epoch 1's is intact, a temp file remains
    exp = work / "exp"
    p = _train(argv, exp, prefix=("-c", CRASH_IN_SAVE))
    out, _ = p.communicate(timeout=900)
    assert p.returncode == -signal.SIGKILL, out
    assert checkpoint_problem(exp / "checkpoint.pth") is None
    assert _reporter_epoch(exp) == 1
    assert list(exp.glob(".checkpoint.pth.*.lst-tmp")), "the killed writer's partial file should be left"

    # 2. resume; kill -9 in the middle of epoch 4 (after epoch 3's checkpoint appears)
    p = _train(argv, exp)
    def version():
        try:
            st = (exp / "checkpoint.pth").stat()
        except FileNotFoundError:  # never: os.replace keeps the name present at all times
            pytest.fail("checkpoint.pth vanished during a write")
        return st.st_ino, st.st_mtime_ns  # each os.replace brings a new file (inode, mtime)

    last, stamps = version(), []
    deadline = time.time() + 900
    while len(stamps) < 2 and p.poll() is None and time.time() < deadline:
        if version() != last:
            last = version()
            stamps.append(time.time())
        time.sleep(0.01)
    assert len(stamps) == 2, p.communicate()[0]
    time.sleep(0.3 * (stamps[1] - stamps[0]))  # about a third into epoch 4
    p.send_signal(signal.SIGKILL)
    out, _ = p.communicate(timeout=900)
    assert p.returncode == -signal.SIGKILL, "training finished before the kill; make the epoch longer"
    assert "partial checkpoint left by a killed writer" in out
    assert "The training was resumed using" in out
    assert _reporter_epoch(exp) == 3
    assert not list(exp.glob(".*.lst-tmp"))

    # 3. resume to the end: epochs 2..4 were computed by resumed runs, all must match
    p = _train(argv, exp)
    out, _ = p.communicate(timeout=900)
    assert p.returncode == 0, out
    for phase in ("train", "valid"):
        resumed = epoch_losses(exp, phase)
        assert sorted(resumed) == list(range(1, MAX_EPOCH + 1))
        for e in range(1, MAX_EPOCH + 1):
            assert resumed[e] == pytest.approx(reference[phase][e], rel=1e-6, abs=1e-7), (phase, e)
    # the final models are identical too, and the links point at existing files
    a = torch.load(ref / f"{MAX_EPOCH}epoch.pth", weights_only=False)
    b = torch.load(exp / f"{MAX_EPOCH}epoch.pth", weights_only=False)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    for link in ("latest.pth", "valid.loss.best.pth"):
        assert (exp / link).resolve().exists(), link
    print(f"reference run {t_ref:.1f} s, whole test {time.time() - t0:.1f} s")


# ---- fast in-process checks ------------------------------------------------------------


def test_plain_torch_save_leaves_a_truncated_file_but_atomic_save_does_not(tmp_path, monkeypatch):
    import lst.train.trainer as T

    ckpt = tmp_path / "checkpoint.pth"
    atomic_torch_save({"epoch": 1, "w": torch.ones(1000)}, ckpt)
    good = ckpt.read_bytes()

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half of a checkpoint")
        raise KeyboardInterrupt("simulated crash mid-write")

    monkeypatch.setattr(T, "_torch_save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"epoch": 2}, ckpt)
    assert ckpt.read_bytes() == good  # previous checkpoint untouched
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1
    assert list(tmp_path.iterdir()) == [ckpt]  # temp file cleaned up on an exception

    # what ESPnet's plain torch.save leaves after the same crash: unreadable
    with pytest.raises(KeyboardInterrupt):
        with open(ckpt, "wb") as f:
            crash_midway(None, f)
    assert checkpoint_problem(ckpt) is not None


def test_checkpoint_problem_detects_truncation_and_corruption(tmp_path):
    p = tmp_path / "c.pth"
    torch.save({"w": torch.arange(5000.0)}, p)
    assert checkpoint_problem(p) is None
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert "truncated" in checkpoint_problem(p)
    p.write_bytes(b"")
    assert checkpoint_problem(p) == "empty file"
    i = data.index(b"data/0") + 200  # flip a byte inside the tensor record
    p.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    assert "CRC" in checkpoint_problem(p)
    torch.save({"w": 1}, p, _use_new_zipfile_serialization=False)  # legacy format still accepted
    assert checkpoint_problem(p) is None


def test_resume_from_corrupt_checkpoint_starts_over_with_clear_message(tmp_path, caplog):
    from espnet2.train.reporter import Reporter

    model = torch.nn.Linear(2, 2)
    optim = torch.optim.Adam(model.parameters())
    good = tmp_path / "1epoch.pth"
    torch.save(model.state_dict(), good)
    ckpt = tmp_path / "checkpoint.pth"
    ckpt.write_bytes(good.read_bytes()[:100])  # what a kill during plain torch.save leaves
    reporter = Reporter()
    with caplog.at_level(logging.ERROR):
        LSTTrainer.resume(checkpoint=ckpt, model=model, reporter=reporter, optimizers=[optim],
                          schedulers=[None], scaler=None)
    assert reporter.get_epoch() == 0  # starts over
    assert not ckpt.exists() and (tmp_path / "checkpoint.pth.corrupt").exists()
    msg = caplog.text
    assert f"Cannot resume from {ckpt}" in msg and "starts over from epoch 1" in msg
    assert f"--init_param {good}" in msg


def test_resume_repairs_epoch_file_missing_after_kill(tmp_path):
    """Killed after checkpoint.pth was replaced but before {N}epoch.pth was written."""
    from espnet2.train.reporter import Reporter

    model = torch.nn.Linear(2, 2)
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("valid") as sub:
        sub.register({"loss": 1.0})
    atomic_torch_save({"model": model.state_dict(), "reporter": reporter.state_dict(),
                       "optimizers": [], "schedulers": [], "scaler": None}, tmp_path / "checkpoint.pth")
    fresh, rep2 = torch.nn.Linear(2, 2), Reporter()
    LSTTrainer.resume(checkpoint=tmp_path / "checkpoint.pth", model=fresh, reporter=rep2, optimizers=[],
                      schedulers=[], scaler=None)
    assert rep2.get_epoch() == 1
    saved = torch.load(tmp_path / "1epoch.pth", weights_only=False)
    assert torch.equal(saved["weight"], model.weight)
    assert os.readlink(tmp_path / "latest.pth") == "1epoch.pth"
