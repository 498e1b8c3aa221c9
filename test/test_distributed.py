"""Multi-process data-parallel training on CPU (gloo) through ESPnet's distributed path.

ESPnet 202511's own spawner (``--multiprocessing_distributed true``) only spawns one process
per GPU (it asserts ``ngpu > 1``), so on CPU the processes are started by a launcher:
``torchrun`` (it sets RANK/WORLD_SIZE/MASTER_*; ESPnet reads them) or one command per process
with ``--dist_world_size/--dist_rank/--dist_master_addr/--dist_master_port`` (the multi-node
form). ESPnet splits every global mini-batch across the ranks (``batch[rank::world_size]``)
and DDP averages the gradients, so 2 processes on the same global batch must follow the
1-process loss curve.
"""
import signal
import socket
import subprocess
import sys

import pytest

from lst.tasks.toy import epoch_losses, subprocess_env, write_toy_experiment

pytestmark = pytest.mark.slow  # three training launches, ~1-2 min on the 2-core CPU machine


def _run(cmd, timeout=900):
    p = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    return p.stdout + p.stderr


def test_two_gloo_processes_match_one_process(tmp_path):
    # equal-length s2t sequences: each rank's token-mean loss averages exactly to the global one
    argv = write_toy_experiment(tmp_path, n_train=64, n_valid=8, batch_size=8, max_epoch=3,
                                equal_length=True)
    _run([sys.executable, "-m", "lst.bin.lst_train", *argv, "--output_dir", str(tmp_path / "one")])
    log = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "lst.bin.lst_train", *argv, "--dist_backend", "gloo",
                "--output_dir", str(tmp_path / "two")])
    assert "[" in log and ":0/2]" in log  # ESPnet ran as rank 0 of 2
    for phase in ("train", "valid"):
        one, two = epoch_losses(tmp_path / "one", phase), epoch_losses(tmp_path / "two", phase)
        assert sorted(one) == sorted(two) == [1, 2, 3]
        for e in one:
            assert two[e] == pytest.approx(one[e], rel=1e-5), (phase, e, one, two)
        assert one[3] < one[1]  # it is learning, not a constant


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_espnet_launcher_flags_with_ranks_seeing_different_kinds(tmp_path):
    """One command per rank (the multi-node form). Batches of 2 mixed-kind sequences: one rank
    often gets a speech-only and the other a text-only sequence, so their stats differ
    (loss_text is None on one rank); LSTTrainer must still keep the collectives in step."""
    argv = write_toy_experiment(tmp_path, n_train=32, n_valid=8, batch_size=2, max_epoch=2)
    port = str(_free_port())
    procs = [
        subprocess.Popen([sys.executable, "-m", "lst.bin.lst_train", *argv, "--dist_backend", "gloo",
                          "--dist_world_size", "2", "--dist_rank", str(rank), "--dist_master_addr", "127.0.0.1",
                          "--dist_master_port", port, "--output_dir", str(tmp_path / "exp")],
                         env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in (0, 1)
    ]
    try:
        outs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outs)
    losses = {ph: epoch_losses(tmp_path / "exp", ph) for ph in ("train", "valid")}
    for ph, curve in losses.items():
        assert sorted(curve) == [1, 2] and all(0 < v < 10 for v in curve.values()), (ph, curve)
    text = epoch_losses(tmp_path / "exp", "train", "loss_text")
    assert all(0 < v < 10 for v in text.values())  # NaN-padded stats were skipped, not averaged in
