"""egs/TEMPLATE/tts1/tts.sh stages 6-9 on a tiny packed LST and a tiny vocoder (slow): reference
resynthesis and TTS decoding (stage 6), the independent recognizer on the test set's own audio,
the resynthesis and the TTS output (stage 7, resumable), the ESPnet-ASR stage skipped without
--asr_exp (stage 8), and RESULTS.md/json with one row per system (stage 9); then stage 8 with
--asr_exp, ESPnet's inference stood in for by a wrapper around --python (its plumbing: every
system's audio, absolute paths, run from the asr1 recipe dir, scored with the one normaliser)."""
import json
import os
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(), reason="run tools/setup.sh first"),
]

TEXT = {"utt/1": "THE CAT SAT ON THE MAT", "utt2": "YES NO GO STOP"}  # an id with '/' on purpose


def make_recipe(root):
    """A tts1 recipe dir holding what stages 1-5 would leave: dump/raw/test (text + audio),
    the reference units, a fine-tuned package exp/tts_lst/packed.zip and exp/vocoder/vocoder.pth."""
    from lst.bin.pack_model import main as pack_main
    from lst.vocoder import UnitMelNet, UnitVocoder
    from lst.vocoder.unit_mel import MelConfig
    from test_pack import make_pretrained

    r = root / "tts1"
    r.mkdir()
    for name, target in (("tts.sh", "egs/TEMPLATE/tts1/tts.sh"), ("utils", "egs/TEMPLATE/lst1/utils"),
                         ("path.sh", "egs/TEMPLATE/lst1/path.sh")):
        (r / name).symlink_to(REPO_ROOT / target)
    (root / "pkg").mkdir()
    src = make_pretrained(root / "pkg", "lst")
    (r / "exp" / "tts_lst").mkdir(parents=True)
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"],
                      "--out", str(r / "exp" / "tts_lst" / "packed.zip")]) == 0
    cfg = MelConfig(unit_rate_hz=50)
    net_conf = dict(n_units=10, n_mels=cfg.n_mels, d=16, n_layers=1)
    (r / "exp" / "vocoder").mkdir()
    UnitVocoder(UnitMelNet(**net_conf), cfg, net_conf, griffin_lim_iters=2).save(str(r / "exp" / "vocoder" / "vocoder.pth"))
    raw = r / "dump" / "raw" / "test"
    raw.mkdir(parents=True)
    t = np.arange(16000) / 16000
    for i, utt in enumerate(TEXT):
        soundfile.write(raw / f"{i}.wav", (0.2 * np.sin(2 * np.pi * 300 * (i + 1) * t)).astype(np.float32), 16000)
    (raw / "wav.scp").write_text("".join(f"{u} {raw / f'{i}.wav'}\n" for i, u in enumerate(TEXT)))
    (raw / "text").write_text("".join(f"{u} {w}\n" for u, w in TEXT.items()))
    units = r / "dump" / "units" / "pkg_lst" / "test"
    units.mkdir(parents=True)
    (units / "units").write_text("".join(f"{u} {' '.join(str(k % 10) for k in range(i, i + 30))}\n"
                                         for i, u in enumerate(TEXT)))
    return r


FAKE_PYTHON = """#!/usr/bin/env bash
# python that answers 'lst.bin.espnet_asr_inference' with a fixed transcript, runs the rest
if [ "$1" = -m ] && [ "$2" = lst.bin.espnet_asr_inference ]; then
  while [ $# -gt 0 ]; do
    case "$1" in --key_file) keys=$2 ;; --output_dir) out=$2 ;; esac; shift
  done
  echo "$(pwd) ${keys}" >> "${FAKE_ASR_LOG}"
  mkdir -p "${out}/1best_recog"
  # utt/1 right up to case and punctuation, utt2 (4 words) unrecognised: WER 4/10
  awk '{print $1, ($1 == "utt/1" ? "the cat, sat on the mat." : "")}' "${keys}" > "${out}/1best_recog/text"
  exit 0
fi
exec python3 "$@"
"""


def run_tts(recipe, *opts, **env_extra):
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), OMP_NUM_THREADS="1", **env_extra)
    cmd = ["./tts.sh", "--pretrained_model", "exp/packed/lst.zip", "--test_sets", "test", "--griffin_lim_iters", "2",
           "--max_units", "20", "--min_units", "3", *opts]
    proc = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def test_tts_stages_6_to_9_score_every_system(tmp_path):
    recipe = make_recipe(tmp_path)
    out = run_tts(recipe, "--stage", "6", "--stop_stage", "9")
    exp = recipe / "exp"
    assert "Stage 8 skipped: no --asr_exp" in out
    for system in ("original", "reference", "lst"):
        d = exp / f"tts_{system}" / "decode_test" / "pocketsphinx"
        score = json.loads((d / "score.json").read_text())
        assert score["n_utts"] == 2 and score["recognizer"] == "pocketsphinx" and score["wer"] >= 0.0
        assert (d / ".done.json").is_file()
    # the reference resynthesis names its wavs injectively: the id with '/' is one file in wav/
    scp = (exp / "tts_reference" / "decode_test" / "wav.scp").read_text().split("\n")
    assert scp[0].startswith("utt/1 ") and scp[0].endswith("/wav/utt%2F1.wav")
    rows = json.loads((exp / "RESULTS.json").read_text())
    assert [r["system"] for r in rows] == ["original", "reference", "lst"]
    lst = rows[2]
    assert lst["uer"] is not None and lst["global_steps"] > 0 and lst["asr_wer"] is None
    assert "| lst | test |" in (exp / "RESULTS.md").read_text()
    # re-running the recognizer stage reuses every unchanged score
    out = run_tts(recipe, "--stage", "7", "--stop_stage", "7")
    assert out.count("up to date (same audio, reference and options)") == 3

    asr_exp = tmp_path / "asr1" / "exp" / "asr_espnet"
    asr_exp.mkdir(parents=True)
    (asr_exp / "config.yaml").write_text("{}\n")
    (asr_exp / "valid.acc.best.pth").write_bytes(b"")
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "asr_calls"
    run_tts(recipe, "--stage", "8", "--stop_stage", "9", "--asr_exp", str(asr_exp), "--python", str(fake),
            FAKE_ASR_LOG=str(log))
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == [str(tmp_path / "asr1")] * 3  # run from the asr1 recipe dir
    assert [c.split()[1] for c in calls] == [str((recipe / "dump/raw/test/wav.scp").resolve())] + [
        str((exp / f"tts_{s}" / "decode_test" / "wav.scp").resolve()) for s in ("reference", "lst")]
    rows = json.loads((exp / "RESULTS.json").read_text())
    assert [(r["system"], r["asr_wer"]) for r in rows] == [("original", 40.0), ("reference", 40.0), ("lst", 40.0)]
    assert rows[2]["wer"] == lst["wer"]  # the pocketsphinx column is kept
    assert "| ESPnet-ASR WER | ESPnet-ASR CER |" in (exp / "RESULTS.md").read_text()
