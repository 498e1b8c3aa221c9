"""lib.sh data_prep_stage (stage 1 of lst.sh and hubert.sh): local/data.sh with the recipe's
options, then every set validated; a bad set stops the stage naming its file."""
import subprocess
import sys

from conftest import REPO_ROOT

DATA_SH = """#!/usr/bin/env bash
set -euo pipefail
echo "data.sh args: $*" > data_sh_args
for s in train test; do
  mkdir -p data/$s
  echo "$s-u1 /x/$s.wav" > data/$s/wav.scp
  echo "$s-u1 HELLO" > data/$s/text
  echo "$s-u1 spk" > data/$s/utt2spk
  echo "spk $s-u1" > data/$s/spk2utt
done
"""


def run_stage1(tmp_path, sets):
    (tmp_path / "utils").symlink_to(REPO_ROOT / "egs" / "TEMPLATE" / "lst1" / "utils")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "data.sh").write_text(DATA_SH)
    (tmp_path / "local" / "data.sh").chmod(0o755)
    script = (f'set -euo pipefail; . utils/lib.sh; python={sys.executable}\n'
              f'data_prep_stage "--max_utts 3 --nj 1" {sets}; echo stage1-ok')
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)})
    return proc.returncode, proc.stdout, proc.stderr


def test_data_prep_stage_passes_options_and_validates_each_set(tmp_path):
    rc, out, err = run_stage1(tmp_path, "train test")
    assert rc == 0, err
    assert out.strip().endswith("stage1-ok")
    assert (tmp_path / "data_sh_args").read_text().strip() == "data.sh args: --max_utts 3 --nj 1"


def test_data_prep_stage_stops_on_a_bad_set(tmp_path):
    rc, out, err = run_stage1(tmp_path, "train valid test")  # data.sh made no data/valid
    assert rc != 0 and "stage1-ok" not in out
    assert "data/valid" in err
