"""asr.sh's ESPnet ASR baseline (stages 6-7: ESPnet's own collect_stats + training + decoding +
WER) on mini_an4, one epoch, with a tiny random package for the BPE model (slow)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, SHARED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "data" / "mini_an4" / "downloads.tar.gz").exists(),
                       reason="mini_an4 archive not present"),
]


def test_espnet_asr_baseline_stages(tmp_path):
    from lst.pack import pack_model
    from test_pack import make_pretrained

    work = tmp_path / "asr1"
    work.mkdir()
    recipe = REPO_ROOT / "egs" / "mini_an4" / "asr1"
    for name in ("run.sh", "cmd.sh", "conf"):
        src = recipe / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    for name in ("asr.sh", "path.sh", "utils", "local"):
        (work / name).symlink_to((recipe / name).resolve())
    (work / "exp" / "packed").mkdir(parents=True)
    (tmp_path / "tok").mkdir()
    src = make_pretrained(tmp_path / "tok", "token_lm", n_units=32)
    pack_model(str(work / "exp" / "packed" / "token_lm.zip"), src["config"], src["model_file"], src["bpe_model"],
               src["km_dir"], src["unit_info"])
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED))
    # stages 1 (data) and 2 (unpack: the BPE model ESPnet's ASR shares), then ESPnet's stages 6-7
    cmd = ["./run.sh", "--stage", "1", "--stop_stage", "7", "--skip_stages", "3 4 5", "--pretrained_model",
           "exp/packed/token_lm.zip", "--espnet_asr_args", "--max_epoch 1"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Stage 6 done" in out and "Stage 7 done" in out
    es = work / "exp" / "asr_espnet"
    assert (es / "valid.acc.best.pth").exists() and (es / "train_seconds").read_text().strip().isdigit()
    assert "--espnet_asr_args --max_epoch\\ 1" in (es / "run.sh").read_text()  # the command line is kept
    for dset in ("valid", "test"):
        hyp = (es / f"decode_{dset}" / "1best_recog" / "text").read_text().splitlines()
        refs = (work / "dump" / "raw" / dset / "text").read_text().splitlines()
        assert sorted(h.split()[0] for h in hyp) == sorted(r.split()[0] for r in refs)
        score = json.loads((es / f"decode_{dset}" / "score.json").read_text())
        assert score["n_utts"] == len(refs) and score["wer"] >= 0
