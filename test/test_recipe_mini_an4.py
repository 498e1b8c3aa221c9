"""End to end: the mini_an4 recipe in a temporary copy, both model choices (slow)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SHARED

RECIPE = REPO_ROOT / "egs" / "mini_an4" / "lst1"
ARCHIVE = SHARED / "data" / "mini_an4" / "downloads.tar.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present"),
    pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(), reason="run tools/setup.sh first"),
]


def run(cwd, *args):
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED))
    proc = subprocess.run(["./run.sh", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    return proc.returncode, proc.stdout + proc.stderr


def paths(cwd, *args):
    """The recipe's own names for these options (lst.sh --print_paths true)."""
    rc, out = run(cwd, *args, "--print_paths", "true")
    assert rc == 0, out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    work = tmp_path_factory.mktemp("mini_an4") / "lst1"
    shutil.copytree(RECIPE, work, symlinks=False)  # resolve utils/, lst.sh, path.sh links
    for generated in ("downloads", "data", "dump", "exp", "corpus"):
        shutil.rmtree(work / generated, ignore_errors=True)
    rc, out = run(work, "--lst_args", "--max_epoch 2")
    assert rc == 0, out[-4000:]
    return work, out


def test_full_run_trains_lst_and_writes_results(recipe):
    work, out = recipe
    for stage in range(1, 11):
        assert f"Stage {stage} done" in out, f"stage {stage} did not report"
    p = paths(work, "--lst_args", "--max_epoch 2")
    # names carry their settings
    assert p["units_dir"] == "dump/units/mfcc_50hz_km32" and p["token_list"] == "data/token_list/bpe40_km32/tokens.txt"
    assert p["lst_exp"] == "exp/lst_train_lst_debug_max_epoch2_mfcc_50hz_km32_bpe40"
    exp = work / p["lst_exp"]
    results = (exp / "RESULTS.md").read_text()
    assert "`lst`" in results
    for kind in ("speech", "text", "s2t", "t2s"):
        assert f"| valid | {kind} |" in results and f"| test | {kind} |" in results
    units = (work / p["units_dir"] / "train" / "units").read_text().splitlines()
    assert len(units) == 4 and all(len(u.split()) > 10 for u in units)
    # the experiment keeps the command line that made it, and stage 11 packed the model
    saved = (exp / "run.sh").read_text()
    assert "--lst_args --max_epoch\\ 2" in saved and "--n_clusters 32" in saved
    assert (work / p["packed"]).is_file()


def test_baseline_trains_on_the_same_corpus(recipe):
    work, _ = recipe
    rc, out = run(work, "--stage", "9", "--lst_config", "conf/train_token_lm_debug.yaml", "--lst_args", "--max_epoch 1")
    assert rc == 0, out[-4000:]
    exp = paths(work, "--lst_config", "conf/train_token_lm_debug.yaml", "--lst_args", "--max_epoch 1")["lst_exp"]
    results = (work / exp / "RESULTS.md").read_text()
    assert "`token_lm`" in results and "| valid | s2t |" in results


def test_rerun_stages_is_idempotent(recipe):
    work, _ = recipe
    p = paths(work)
    outputs = [work / p["units_dir"] / "test/units", work / p["token_list"]]
    before = [p.read_bytes() for p in outputs]
    rc, out = run(work, "--stage", "5", "--stop_stage", "6")
    assert rc == 0, out[-3000:]
    assert "Stage 5 done" in out and "Stage 6 done" in out and "Stage 4" not in out
    assert [p.read_bytes() for p in outputs] == before


def test_missing_input_names_the_stage(recipe):
    work, _ = recipe
    shutil.move(work / "dump" / "units", work / "units.bak")
    try:
        rc, out = run(work, "--stage", "7", "--stop_stage", "7")
    finally:
        shutil.move(work / "units.bak", work / "dump" / "units")
    assert rc != 0
    assert "dump/units/mfcc_50hz_km32/train/units not found; it is made by stage 5 (unit dump)" in out


def test_pretrain_and_pack_packs_a_trained_recipe(recipe):
    # the downstream recipes' stage 0 helper, with a relative work dir (as asr.sh calls it):
    # training is already complete there, so it resumes, finds nothing to do, and packs
    from lst.pack import load_packed

    work, _ = recipe
    script = REPO_ROOT / "egs" / "TEMPLATE" / "asr1" / "scripts" / "pretrain_and_pack.sh"
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED))
    proc = subprocess.run(["bash", str(script), str(work), work.name, "packed", "conf/train_lst_debug.yaml",
                           "--lst_args '--max_epoch 2'"], cwd=work.parent, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    packed = load_packed(str(work.parent / "packed" / "lst.zip"))
    assert type(packed.model).__name__ == "LSTModel"


def comparable_files(root: Path, expdir: str):
    """{relative path: bytes} of a dump dir, without logs and job work dirs, with the dump and exp
    dir names masked (paths in scp/json files name them); a completion marker contributes its
    file names (its hashes and input fingerprints cover files that name the dump dir)."""
    import json

    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or p.suffix == ".log" or any(".split" in part for part in rel.parts):
            continue
        data = p.read_bytes()
        if p.name == ".done.json":
            m = json.loads(data)
            data = json.dumps(sorted(m.get("files", {}))).encode()
        for name, mask in ((root.name, b"DUMP/"), (expdir, b"EXP/")):
            data = re.sub(rb"(^|[\s/\"])" + re.escape(name.encode()) + b"/", rb"\1" + mask, data, flags=re.M)
        out[str(rel)] = data
    return out


def test_sharded_data_stages_match_one_job(recipe):
    """Stages 2-7 with --nj 1 and --nj 3 (and the fixture's default --nj 2): identical bytes."""
    work, _ = recipe
    for nj in (1, 3):
        rc, out = run(work, "--stage", "2", "--stop_stage", "7", "--nj", str(nj), "--dumpdir", f"dump_nj{nj}",
                      "--expdir", f"exp_nj{nj}")
        assert rc == 0, out[-3000:]
    one, three = comparable_files(work / "dump_nj1", "exp_nj1"), comparable_files(work / "dump_nj3", "exp_nj3")
    assert one.keys() == three.keys()
    assert [k for k in one if one[k] != three[k]] == []
    two = comparable_files(work / "dump", "exp")
    assert [k for k in one if one[k] != two.get(k)] == []
    # the comparison covered every data stage's output
    for name in ("raw/train/wav.scp", "feats/mfcc_50hz/train/feats.ark", "feats/mfcc_50hz/train/feats.scp",
                 "units/mfcc_50hz_km32/test/units", "corpus/mfcc_50hz_km32_bpe40/train/seqs"):
        assert name in one, name
    assert (work / "dump_nj3/feats/mfcc_50hz/train.split3/log/dump_features.3.log").is_file()


def test_units_from_a_kmeans_fitted_elsewhere(recipe):
    """--kmeans_dir + --unit_tag: stage 4 checks the given k-means instead of fitting one, the units
    and token list get their own names, and --bpe_from keeps the BPE pieces and ids of the first run."""
    import sys

    from lst.stage_io import lineage_of

    work, _ = recipe
    p = paths(work)
    elsewhere = work.parent / "elsewhere_km"  # another codebook of the same size: fitted on the test set
    proc = subprocess.run([sys.executable, "-m", "lst.bin.learn_kmeans", "--feats_dir",
                           p["feats_dir"] + "/test", "--n_clusters", "32", "--out_dir", str(elsewhere)],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    opts = ("--kmeans_dir", str(elsewhere), "--unit_tag", "km_elsewhere")
    q = paths(work, *opts)
    assert q["km_dir"] == str(elsewhere) and q["units_dir"] == "dump/units/km_elsewhere"
    assert q["token_list"] == "data/token_list/bpe40_km_elsewhere/tokens.txt"
    rc, out = run(work, *opts, "--stage", "4", "--stop_stage", "7", "--bpe_from", str(work / p["bpe_model"]))
    assert rc == 0, out[-3000:]
    assert "k-means fitted elsewhere" in out and "learn_kmeans" not in out
    assert (work / q["token_list"]).read_text() == (work / p["token_list"]).read_text()
    assert (work / q["bpe_model"]).read_bytes() == (work / p["bpe_model"]).read_bytes()
    km_fp = lineage_of(work / q["units_dir"] / "train")["learn_kmeans"]
    assert km_fp != lineage_of(work / p["units_dir"] / "train")["learn_kmeans"]
    assert lineage_of(work / q["token_dir"])["learn_kmeans"] == km_fp
    assert (work / q["corpus_dir"] / "train" / "seqs").read_text() != (work / p["corpus_dir"] / "train" / "seqs").read_text()
    # a k-means that does not fit the run's settings, and a missing name, stop with one line
    other_k = work.parent / "elsewhere_km16"
    proc = subprocess.run([sys.executable, "-m", "lst.bin.learn_kmeans", "--feats_dir", p["feats_dir"] + "/test",
                           "--n_clusters", "16", "--out_dir", str(other_k)], cwd=work, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc, out = run(work, "--kmeans_dir", str(other_k), "--unit_tag", "km16", "--stage", "4", "--stop_stage", "4")
    assert rc != 0 and "n_clusters=16 (this run: 32)" in out and "Traceback" not in out
    rc, out = run(work, "--kmeans_dir", str(elsewhere), "--print_paths", "true")
    assert rc != 0 and "needs --unit_tag" in out
