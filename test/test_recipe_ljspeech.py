"""End to end at toy size: egs/ljspeech/tts1's vocoder-floor path (stage 0 pretrains the LST
package in a private copy of ../lst1 for its k-means units; data, units, unit vocoder,
resynthesis of the reference units, tts.sh stage 7's pocketsphinx scoring of originals and
resynthesis, stage 9's RESULTS.md/json) in a temporary copy of both recipes (slow)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, SHARED

LJ = SHARED / "data" / "ljspeech" / "LJSpeech-1.1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (LJ / "metadata.csv").exists(), reason=f"{LJ} not present"),
    pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(), reason="run tools/setup.sh first"),
]

TOY_DATA = "--max_utts 10 --nvalid 2 --ntest 2"


# MFCC k-means units, and the supervised phone-posterior units (stage 2 aligns with pocketsphinx,
# stage 3 trains the phone classifier the package then names for its units)
UNIT_OPTS = {"mfcc": "", "phone_posterior": " --feature_type phone_posterior --word_aligner pocketsphinx"
                                             " --phone_classifier_args"
                                             " '--steps 4 --batch_size 2 --spec_augment true --speed_perturb 0.9,1.0'"
                                             " --unit_codebook argmax"
                                             " --interleave_opts '--on_timing_error skip'"}


def test_toy_vocoder_floor_is_scored_by_pocketsphinx(tmp_path):
    check_toy_vocoder_floor(tmp_path, "mfcc")


def check_toy_vocoder_floor(tmp_path, units):
    """The toy run and its checks (the phone-posterior variant is in test_recipe_ljspeech_phone_units.py,
    a file of its own so that the two long runs can go to different pytest-xdist workers)."""
    for recipe in ("lst1", "tts1"):
        shutil.copytree(REPO_ROOT / "egs" / "ljspeech" / recipe, tmp_path / recipe, symlinks=False)
        for generated in ("downloads", "data", "dump", "exp"):
            shutil.rmtree(tmp_path / recipe / generated, ignore_errors=True)
    # tts.sh finds its shared stage scripts next to its real location
    (tmp_path / "tts1" / "tts.sh").unlink()
    (tmp_path / "tts1" / "tts.sh").symlink_to(REPO_ROOT / "egs" / "TEMPLATE" / "tts1" / "tts.sh")
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED), LJSPEECH=str(LJ), OMP_NUM_THREADS="1")
    cmd = ["./run.sh", "--models", "", "--local_data_opts", TOY_DATA, "--vocoder_steps", "5", "--nj", "1",
           "--pretrain_args", f"--local_data_opts '{TOY_DATA}' --n_clusters 8 --nbpe 30 --nj 1 --lst_args '--max_epoch 1'"
           + UNIT_OPTS[units]]
    proc = subprocess.run(cmd, cwd=tmp_path / "tts1", env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    exp = tmp_path / "tts1" / "exp"
    assert (exp / "packed" / "lst.zip").is_file() and not (exp / "packed" / "token_lm.zip").exists()
    refs = (tmp_path / "tts1" / "dump" / "raw" / "test" / "text").read_text().split("\n")
    assert refs[0].startswith("LJ001-0009 ")  # toy split: clips 1-6 train, 7-8 valid, 9-10 test
    rows = json.loads((exp / "RESULTS.json").read_text())
    assert [r["system"] for r in rows] == ["original", "reference"]
    original, reference = rows
    assert original["n_utts"] == reference["n_utts"] == 2
    assert original["wer"] < 60.0  # the recordings are clean read speech (pocketsphinx en-us)
    assert reference["wer"] >= 0.0 and reference["speech_s"] > 1.0
    assert original["asr_wer"] is None  # no --asr_exp: stage 8 skipped
    assert "Stage 8 skipped: no --asr_exp" in out
    assert not (exp / "tts_lst").exists()  # nothing fine-tuned or decoded
    results = (exp / "RESULTS.md").read_text()
    assert "| original | test |" in results and "ESPnet-ASR" not in results
    if units == "phone_posterior":  # the package's units came from the classifier trained in stage 0's lst1
        clf = tmp_path / "tts1" / "exp" / "pretrain" / "exp" / "phone_classifier"
        info = json.loads((clf / "train_info.json").read_text())
        assert info["steps"] == 4 and "sil" in info["phones"] and info["n_train_utts"] >= 4
        km_info = json.loads((tmp_path / "tts1" / "exp" / "pretrained_lst" / "km_info.json").read_text())
        assert km_info["feature_type"] == "phone_posterior" and km_info["dim"] == len(info["phones"])
        assert info["spec_augment"] is True and info["speed_perturb"] == [0.9, 1.0]
        # --unit_codebook argmax: one unit per phone (--n_clusters 8 does not apply), nothing fitted
        assert (km_info["codebook"], km_info["n_clusters"]) == ("argmax", len(info["phones"]))
        assert km_info["ssl_ckpt"] == str(clf / "model.pth")
    for system in ("original", "reference"):
        assert (exp / f"tts_{system}" / "decode_test" / "pocketsphinx" / ".done.json").is_file()
