"""Checkpoint averaging for asr.sh stage 10 --pick_average (lst.downstream.average,
lst.bin.average_checkpoints) and how its decodes are reported (lst.downstream.results)."""
import argparse
import json

import pytest
import torch

from lst.downstream.average import AverageError, average_checkpoints


def save(path, **tensors):
    torch.save(dict(tensors), path)
    return path


def test_average_is_elementwise_mean_floor_for_integers_dtypes_kept(tmp_path):
    a = save(tmp_path / "1epoch.pth", w=torch.tensor([1.0, 2.0]), h=torch.tensor([1.0], dtype=torch.float16),
             n=torch.tensor(3))
    b = save(tmp_path / "2epoch.pth", w=torch.tensor([3.0, 6.0]), h=torch.tensor([2.0], dtype=torch.float16),
             n=torch.tensor(4))
    avg = average_checkpoints([a, b])
    assert list(avg) == ["w", "h", "n"]
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0]))
    assert avg["h"].dtype == torch.float16 and float(avg["h"]) == 1.5
    assert avg["n"].dtype == torch.int64 and int(avg["n"]) == 3  # (3 + 4) // 2, ESPnet's rule
    assert torch.equal(average_checkpoints([a])["w"], torch.tensor([1.0, 2.0]))


def test_checkpoints_that_cannot_be_averaged_are_named(tmp_path):
    a = save(tmp_path / "1epoch.pth", w=torch.zeros(2), b=torch.zeros(1))
    other_keys = save(tmp_path / "2epoch.pth", w=torch.zeros(2), c=torch.zeros(1))
    other_shape = save(tmp_path / "3epoch.pth", w=torch.zeros(3), b=torch.zeros(1))
    broken = tmp_path / "4epoch.pth"
    broken.write_bytes(b"not a checkpoint")
    not_state = tmp_path / "5epoch.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, not_state)
    with pytest.raises(AverageError, match=r"2epoch.pth: its parameters differ .*\(b, c\)"):
        average_checkpoints([a, other_keys])
    with pytest.raises(AverageError, match=r"3epoch.pth: 'w' has shape \(3,\)"):
        average_checkpoints([a, other_shape])
    with pytest.raises(AverageError, match="4epoch.pth: not a readable torch checkpoint"):
        average_checkpoints([a, broken])
    with pytest.raises(AverageError, match="5epoch.pth: not a model state dict"):
        average_checkpoints([not_state])
    with pytest.raises(AverageError, match="listed twice"):
        average_checkpoints([a, a])
    with pytest.raises(AverageError, match="6epoch.pth: no such checkpoint"):
        average_checkpoints([a, tmp_path / "6epoch.pth"])
    with pytest.raises(AverageError, match="no checkpoints"):
        average_checkpoints([])


def picked_run(tmp_path, wers):
    """A run dir with <N>epoch.pth (w = N) and stage 9's picked_checkpoint.json for dev WERs ``wers``
    of epochs 1, 2, ..."""
    from test_asr_curve import fake_run

    from lst.bin import asr_curve

    exp = fake_run(tmp_path, "asr_lst", [90.0] + list(wers), sets=("dev",))
    for ep in range(1, len(wers) + 1):
        save(exp / f"{ep}epoch.pth", w=torch.full((2,), float(ep)))
    assert asr_curve.main(["--exps", str(exp), "--systems", "lst", "--sets", "dev",
                           "--out_dir", str(tmp_path / "curve"), "--pick_set", "dev"]) == 0
    return exp


def test_average_of_the_n_best_epochs_on_the_validation_set(tmp_path, capsys):
    from lst.bin.average_checkpoints import main

    exp = picked_run(tmp_path, [60.0, 50.0, 55.0, 50.0, 70.0])  # epochs 1-5; 2 and 4 tie
    ranking = json.loads((exp / "picked_checkpoint.json").read_text())["ranking"]
    assert [r["epoch"] for r in ranking] == [4, 2, 3, 1, 5]  # the later epoch first on a tie, as the pick
    capsys.readouterr()
    assert main(["--picked", str(exp / "picked_checkpoint.json"), "--nbest", "3", "--out", str(exp / "ave3best.pth")]) == 0
    assert capsys.readouterr().out.split() == ["4", "2", "3"]
    avg = torch.load(exp / "ave3best.pth", weights_only=True)
    assert torch.allclose(avg["w"], torch.full((2,), 3.0))  # (4 + 2 + 3) / 3
    info = json.loads((exp / "ave3best.json").read_text())
    assert (info["epochs"], info["wers"], info["set"], info["nbest"]) == ([4, 2, 3], [50.0, 50.0, 55.0], "dev", 3)


def test_average_refuses_too_few_epochs_and_a_pick_without_ranking(tmp_path, capsys):
    from lst.bin.average_checkpoints import main

    exp = picked_run(tmp_path, [60.0, 50.0])
    picked = exp / "picked_checkpoint.json"
    assert main(["--picked", str(picked), "--nbest", "3", "--out", str(exp / "a.pth")]) == 1
    assert "2 epochs decoded on dev, fewer than --nbest 3" in capsys.readouterr().err
    assert not (exp / "a.pth").exists()
    old = json.loads(picked.read_text())
    del old["ranking"]
    picked.write_text(json.dumps(old))
    assert main(["--picked", str(picked), "--nbest", "2", "--out", str(exp / "a.pth")]) == 1
    assert "no 'ranking'" in capsys.readouterr().err
    assert main(["--picked", str(exp / "missing.json"), "--nbest", "2", "--out", str(exp / "a.pth")]) == 1
    assert "missing.json: cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--picked", str(picked), "--nbest", "1", "--out", str(exp / "a.pth")])


def test_averaged_decodes_are_reported_with_their_epochs(tmp_path):
    from test_asr_curve import fake_joint_decode

    from lst.downstream.results import asr_lm, asr_lm_rows

    exp = tmp_path / "asr_lst"
    for name, wer in (("decode_test_joint_ep28", 50.0), ("decode_test_joint_ave5", 45.0),
                      ("decode_test_joint_ave5_ctc0.5", 1.0)):  # the last: not a stage-10 dir
        fake_joint_decode(exp / name, wer, ctc_weight=0.7)
    (exp / "ave5best.json").write_text(json.dumps({"epochs": [29, 30, 27, 28, 26]}))
    out = tmp_path / "RESULTS.md"
    asr_lm(argparse.Namespace(exp=str(exp), sets="test", out=str(out)))
    searches = [l.split(" | ")[1] for l in out.read_text().splitlines() if l.startswith("| test")]
    assert searches == ["joint, epoch 28, CTC 0.7", "joint, average of epochs 29 30 27 28 26, CTC 0.7"]
    rows = asr_lm_rows(tmp_path, ["lst"], ["test"])
    assert [(r["decode"], r["wer"], r["best_epoch"], r.get("averaged_epochs")) for r in rows] == [
        ("beam4_ctc0.7_ep28", 50.0, 28, None), ("beam4_ctc0.7_ave5", 45.0, None, [29, 30, 27, 28, 26])]
