"""Job dispatch of the recipes: utils/run_local.sh and utils/submitit_run.py (the $train_cmd
"JOB=1:N LOG command" contract), and lib.sh's shard_run + utils/shards.py: a sharded run
merges to exactly the bytes of one job (ark offsets moved, sorted outputs merged by key)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

UTILS = REPO_ROOT / "egs" / "TEMPLATE" / "lst1" / "utils"


@pytest.fixture
def recipe_dir(tmp_path):
    (tmp_path / "utils").symlink_to(UTILS)
    return tmp_path


def sh(cwd, script, env=None):
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout, proc.stderr


def test_run_local_jobs_logs_and_failures(recipe_dir):
    rc, _, err = sh(recipe_dir, "utils/run_local.sh --max_jobs_run 2 --mem 4G JOB=1:3 log/x.JOB.log "
                                "bash -c 'echo job JOB of 3; echo err JOB >&2'")
    assert rc == 0, err
    for j in (1, 2, 3):
        text = (recipe_dir / "log" / f"x.{j}.log").read_text()
        assert f"job {j} of 3" in text and f"err {j}" in text and "# Ended (code 0)" in text
    rc, _, err = sh(recipe_dir, "utils/run_local.sh JOB=1:3 log/y.JOB.log bash -c '[ JOB != 2 ] || exit 3'")
    assert rc == 1
    assert "1 / 3 failed (job 2); log: log/y.2.log" in err
    assert "# Ended (code 3)" in (recipe_dir / "log" / "y.2.log").read_text()
    # one job, no JOB range
    rc, _, _ = sh(recipe_dir, "utils/run_local.sh log/one.log echo single")
    assert rc == 0 and "single" in (recipe_dir / "log" / "one.log").read_text()


def test_submitit_backend_runs_the_same_contract(recipe_dir):
    pytest.importorskip("submitit")
    py = sys.executable
    rc, _, err = sh(recipe_dir, f"{py} utils/submitit_run.py --cluster local --time 5 JOB=1:2 log/s.JOB.log "
                                "bash -c 'echo job JOB; pwd'")
    assert rc == 0, err
    for j in (1, 2):
        text = (recipe_dir / "log" / f"s.{j}.log").read_text()
        assert f"job {j}\n{recipe_dir}\n" in text and "# Ended (code 0)" in text
    rc, _, err = sh(recipe_dir, f"{py} utils/submitit_run.py --cluster local JOB=1:2 log/f.JOB.log "
                                "bash -c 'exit $((JOB-1))'")
    assert rc == 1 and "1 / 2 failed (job 2); log: log/f.2.log" in err


# A stand-in for a data tool: per utterance of SRC/wav.scp, a matrix in an ark (+scp), a text
# line, a key-sorted file (as build_corpus writes seqs) and an info json.
TOOL = r'''
import json, sys, kaldiio, numpy as np
src, out = sys.argv[1], sys.argv[2]
import os; os.makedirs(out, exist_ok=True)
lines = [l.split() for l in open(os.path.join(src, "wav.scp")) if l.strip()]
with kaldiio.WriteHelper(f"ark,scp:{out}/feats.ark,{out}/feats.scp") as w:
    for utt, n in lines:
        w(utt, np.arange(int(n) * 3, dtype=np.float32).reshape(int(n), 3) + len(utt))
with open(f"{out}/lens", "w") as f:
    for utt, n in lines: f.write(f"{utt} {n}\n")
with open(f"{out}/seqs", "w") as f:
    for key in sorted(f"{k}_{utt}" for utt, _ in lines for k in ("s2t", "speech", "text")): f.write(f"{key} x\n")
json.dump({"dim": 3}, open(f"{out}/info.json", "w"))
'''


@pytest.mark.parametrize("nj", [2, 3, 5])
def test_shard_run_merges_to_the_bytes_of_one_job(recipe_dir, nj, monkeypatch):
    (recipe_dir / "tool.py").write_text(TOOL)
    src = recipe_dir / "in"
    src.mkdir()
    (src / "wav.scp").write_text("".join(f"utt{i:02d} {i % 4 + 1}\n" for i in range(11)))
    script = (f'. utils/lib.sh; python={sys.executable}\n'
              f'shard_run --sorted seqs NJ in "wav.scp" "" out_NJ tool {sys.executable} tool.py SHARD_IN SHARD_OUT')
    for n in (1, nj):
        rc, _, err = sh(recipe_dir, script.replace("NJ", str(n)))
        assert rc == 0, err
    one, many = recipe_dir / "out_1", recipe_dir / f"out_{nj}"
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in many.iterdir())
    for p in one.iterdir():
        data = p.read_bytes()
        if p.name == "feats.scp":  # names its own directory; otherwise identical
            data = data.replace(b"out_1/", f"out_{nj}/".encode())
        assert (many / p.name).read_bytes() == data, p.name
    assert (recipe_dir / f"out_{nj}.split{nj}" / "log" / f"tool.{nj}.log").is_file()
    assert not (recipe_dir / f"out_{nj}.split{nj}" / "out").exists()  # shards removed after the merge
    import kaldiio

    monkeypatch.chdir(recipe_dir)  # the scp names the ark relative to the recipe, as one job writes it
    merged = dict(kaldiio.load_scp(str(many / "feats.scp")))
    assert len(merged) == 11 and merged["utt10"].shape == (3, 3)


def test_shard_split_keeps_keys_missing_from_the_first_file(recipe_dir):
    src = recipe_dir / "d"
    src.mkdir()
    (src / "units").write_text("a 1 2\nc 3\n")
    (recipe_dir / "text").write_text("a A\nb B\nc C\n")
    rc, _, err = sh(recipe_dir, f"{sys.executable} utils/shards.py split --src d --files 'units ./text' --nj 3 --out s")
    assert rc == 0, err
    pieces = [(Path(recipe_dir / "s" / str(j) / "units").read_text(), Path(recipe_dir / "s" / str(j) / "text").read_text())
              for j in (1, 2, 3)]
    assert pieces == [("a 1 2\n", "a A\n"), ("c 3\n", "c C\n"), ("", "b B\n")]  # b reaches a job, and is counted there


def test_require_names_the_stage_and_checks_completion_markers(recipe_dir):
    from lst.stage_io import write_file_marker

    rc, _, err = sh(recipe_dir, '. utils/lib.sh; require dump/x/units "stage 5 (unit dump) of ./run.sh --n_clusters 50"')
    assert rc == 1
    assert ("Error: dump/x/units not found; it is made by stage 5 (unit dump) of ./run.sh --n_clusters 50. "
            "Run that stage first (--stage 5).") in err
    d = recipe_dir / "units"
    d.mkdir()
    (d / "units").write_text("a 1 2 3\nb 4 5\n")
    write_file_marker(d, "dump_units", [d / "units"])
    script = f'. utils/lib.sh; python={sys.executable}; require units/units "stage 5 (unit dump)" && echo ok'
    rc, out, err = sh(recipe_dir, script)
    assert rc == 0 and out.strip() == "ok", err
    (d / "units").write_text("a 1 2 3\n")  # truncated after the stage finished
    rc, out, err = sh(recipe_dir, script)
    assert rc == 1 and out == ""
    assert "units/units has 8 bytes" in err and "rerun stage 5 (unit dump)" in err


def test_save_command_keeps_a_rerunnable_command_line(recipe_dir):
    (recipe_dir / "s.sh").write_text('. utils/lib.sh\nsave_command exp/x\n')
    rc, _, err = sh(recipe_dir, "bash s.sh --n_clusters 32 --lst_args '--max_epoch 2'")
    assert rc == 0, err
    saved = (recipe_dir / "exp" / "x" / "run.sh").read_text()
    assert f"cd {recipe_dir} && s.sh --n_clusters 32 --lst_args --max_epoch\\ 2 \"$@\"" in saved


def test_print_paths_round_trips_paths_with_spaces(recipe_dir):
    # what downstream scripts do with a recipe's --print_paths output: eval it, or recipe_path KEY
    (recipe_dir / "run.sh").write_text('#!/usr/bin/env bash\n. utils/lib.sh\nunits_dir="my dump/units $1"\n'
                                       'empty=""\nprint_paths units_dir empty\n')
    (recipe_dir / "run.sh").chmod(0o755)
    rc, out, err = sh(recipe_dir, """eval "$(./run.sh "it's")"; echo "[${units_dir}][${empty}]"
                                     . utils/lib.sh; echo "[$(recipe_path . units_dir "it's")]" """)
    assert rc == 0, err
    assert out.splitlines() == ["[my dump/units it's][]", "[my dump/units it's]"]
