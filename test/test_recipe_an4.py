"""End to end at toy size: egs/an4/asr1's ESPnet baseline (data prep from the shared archive,
speed perturbation, BPE, ESPnet training, beam decoding, WER) in a temporary copy (slow)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, SHARED

RECIPE = REPO_ROOT / "egs" / "an4" / "asr1"
ARCHIVE = SHARED / "data" / "an4" / "an4_sphere.tar.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present"),
    pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(), reason="run tools/setup.sh first"),
]

TOY_CONFIG = """\
encoder: transformer
encoder_conf: {output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 1, input_layer: conv2d}
decoder: transformer
decoder_conf: {attention_heads: 2, linear_units: 64, num_blocks: 1}
frontend: default
frontend_conf: {n_fft: 512, hop_length: 160, n_mels: 80}
model_conf: {ctc_weight: 0.3, lsm_weight: 0.1, length_normalized_loss: false}
batch_type: sorted
batch_size: 4
max_epoch: 1
optim: adam
optim_conf: {lr: 0.002}
num_att_plot: 0
best_model_criterion: [[valid, acc, max]]
keep_nbest_models: 1
"""

TOY_LM_CONFIG = """\
lm: seq_rnn
lm_conf: {rnn_type: lstm, unit: 16, nlayers: 1}
batch_type: folded
batch_size: 4
fold_length: [150]
max_epoch: 1
optim: adam
optim_conf: {lr: 0.002}
best_model_criterion: [[valid, loss, min]]
keep_nbest_models: 1
"""


def test_toy_espnet_baseline_runs_every_stage(tmp_path):
    work = tmp_path / "asr1"
    generated = {"downloads", "data", "dump", "exp"}  # a user's runs in the checkout are not copied
    shutil.copytree(RECIPE, work, symlinks=False,  # resolves local/, utils/, asr.sh, path.sh links
                    ignore=lambda d, names: generated & set(names) if d == str(RECIPE) else set())
    (work / "conf" / "toy.yaml").write_text(TOY_CONFIG)
    (work / "conf" / "toy_lm.yaml").write_text(TOY_LM_CONFIG)
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED), AN4=str(ARCHIVE), OMP_NUM_THREADS="1")
    cmd = ["local/espnet_asr.sh", "--local_data_opts", "--max_utts 6 --ndev_utt 3", "--asr_config", "conf/toy.yaml",
           "--nbpe", "30", "--beam_size", "2", "--test_sets", "test",
           "--use_lm", "true", "--lm_config", "conf/toy_lm.yaml", "--lm_weights", "0.2 0.5"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # data: ESPnet ids, the dev set is held out of train, audio is 16 kHz PCM
    dev = (work / "data" / "dev" / "text").read_text().split("\n")[0].split()
    assert dev[0] == "fash-an251-b" and dev[1:] == ["YES"]
    assert len((work / "data" / "train" / "text").read_text().splitlines()) == 6
    sp = (work / "dump" / "raw" / "train_sp0.9_1.0_1.1" / "text").read_text().splitlines()
    assert len(sp) == 18 and sum(u.startswith("sp0.9-") for u in sp) == 6
    exp = work / "exp" / "asr_toy_bpe30_sp"
    assert (exp / "train_seconds").read_text().strip().isdigit()
    for dset in ("dev", "test"):
        score = json.loads((exp / f"decode_{dset}_beam2_ctc0.3_valid.acc.ave" / "score.json").read_text())
        assert score["n_utts"] == (3 if dset == "dev" else 6) and score["wer"] >= 0.0
    # stages 7-8: the shallow-fusion LM, its weight chosen on dev only, test decoded with that weight
    lm_exp = work / "exp" / "lm_toy_lm_bpe30"
    assert (lm_exp / "valid.loss.best.pth").is_file() and (lm_exp / "train_seconds").read_text().strip().isdigit()
    pick = json.loads((exp / "lm_weight_pick.json").read_text())
    assert pick["set"] == "dev" and set(pick["valid_wer"]) == {"0.2", "0.5"}
    assert pick["valid_wer"][str(pick["lm_weight"])] == min(pick["valid_wer"].values())
    test_lm = exp / f"decode_test_beam2_ctc0.3_lm{pick['lm_weight']}_valid.acc.ave" / "score.json"
    assert json.loads(test_lm.read_text())["n_utts"] == 6
    rows = json.loads((work / "exp" / "RESULTS.json").read_text())
    decodes = {(r["set"], r["decode"]) for r in rows if r["system"] == "espnet_asr"}
    assert decodes == {("dev", "beam2_ctc0.3_valid.acc.ave"), ("test", "beam2_ctc0.3_valid.acc.ave"),
                       ("dev", "beam2_ctc0.3_lm0.2_valid.acc.ave"), ("dev", "beam2_ctc0.3_lm0.5_valid.acc.ave"),
                       ("test", f"beam2_ctc0.3_lm{pick['lm_weight']}_valid.acc.ave")}
    assert all(r["params_m"] > 0 and r["rtf"] > 0 and r["epochs"] == 1 for r in rows)
