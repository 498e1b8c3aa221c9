"""asr.sh end to end on mini_an4 (slow): stages 1-8 in one run with a tiny random token_lm
package: data, unpack + units, s2t corpus, one fine-tuning epoch + pack, greedy/beam decoding,
ESPnet's own ASR baseline (its collect_stats, one training epoch, decoding, WER) and the
comparison table. One run instead of two (stages 1-5 + 8, and 1-2 + 6-7): stages 1-2 are shared."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SHARED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "data" / "mini_an4" / "downloads.tar.gz").exists(),
                       reason="mini_an4 archive not present"),
]


def asr1_copy(tmp_path: Path) -> Path:
    """A private mini_an4 asr1 recipe (run.sh, cmd.sh, conf copied; scripts linked) with a tiny
    random token_lm package at exp/packed/token_lm.zip."""
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
    return work


def test_asr_recipe_all_stages(tmp_path):
    work = asr1_copy(tmp_path)
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED))
    cmd = ["./run.sh", "--stage", "1", "--stop_stage", "8", "--pretrained_model", "exp/packed/token_lm.zip",
           "--finetune_args", "--max_epoch 1", "--max_len", "4", "--beam_size", "2",
           "--espnet_asr_args", "--max_epoch 1"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for stage in range(1, 9):
        assert f"Stage {stage} done" in out, f"stage {stage} did not report"
    # the LM side: fine-tuned, packed, decoded greedy and beam
    ft = work / "exp" / "asr_token_lm"
    results = (ft / "RESULTS.md").read_text()
    assert "| test | greedy |" in results and "| test | beam |" in results
    assert (ft / "packed.zip").exists()
    assert "--finetune_args --max_epoch\\ 1" in (ft / "run.sh").read_text()  # the command line is kept
    # ESPnet's baseline: trained, decoded every utterance, scored
    es = work / "exp" / "asr_espnet"
    assert (es / "valid.acc.best.pth").exists() and (es / "train_seconds").read_text().strip().isdigit()
    assert "--espnet_asr_args --max_epoch\\ 1" in (es / "run.sh").read_text()
    for dset in ("valid", "test"):
        hyp = (es / f"decode_{dset}" / "1best_recog" / "text").read_text().splitlines()
        refs = (work / "dump" / "raw" / dset / "text").read_text().splitlines()
        assert sorted(h.split()[0] for h in hyp) == sorted(r.split()[0] for r in refs)
        score = json.loads((es / f"decode_{dset}" / "score.json").read_text())
        assert score["n_utts"] == len(refs) and score["wer"] >= 0
    # the comparison table has both sides
    table = (work / "exp" / "RESULTS.md").read_text()
    assert "token_lm (fine-tuned LM)" in table and "ESPnet ASR (fbank, CTC/attention)" in table
