"""The curriculum clock under ESPnet's trainer: it counts optimizer updates (accum_grad 2:
one tick per two forwards) and continues after --resume (the step buffer is in the
checkpoint's model state)."""
import pytest
import torch

from lst.tasks.toy import write_toy_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model_step(out):
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    return int(ckpt["model"]["step"]), ckpt


def test_curriculum_clock_counts_updates_with_accum_grad_and_resumes(tmp_path):
    from lst.bin.lst_train import main

    conf = {"model": "lst", "model_conf": {"d_model": 16, "n_layers": 1, "n_heads": 2, "local_d_model": 8,
                                           "local_heads": 2, "patching": "curriculum", "curriculum_steps": [4, 8],
                                           "ffn_multiple_of": 16, "window": 8},
            "accum_grad": 2}
    argv = write_toy_experiment(tmp_path, n_train=32, n_valid=4, batch_size=4, max_epoch=1, extra_config=conf)
    out = tmp_path / "exp"
    main([*argv, "--output_dir", str(out), "--resume", "true"])
    step, ckpt = _model_step(out)
    # 32 sequences in batches of 4 = 8 forwards = 4 updates
    assert step == 4
    main([*argv, "--output_dir", str(out), "--resume", "true", "--max_epoch", "2"])
    step, ckpt = _model_step(out)
    assert step == 8 and max(int(e) for e in ckpt["reporter"]["stats"]) == 2
