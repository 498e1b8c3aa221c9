"""egs/an4/lst1 at toy size (slow): stages 1-7 on a few utterances of the shared archive, with
stage 2's pocketsphinx forced alignment (--word_aligner pocketsphinx): every set gets word_ctm
and phone_ctm, and stage 7 adds word-level interleaved sequences and documents."""
import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO_ROOT, SHARED

RECIPE = REPO_ROOT / "egs" / "an4" / "lst1"
ARCHIVE = SHARED / "data" / "an4" / "an4_sphere.tar.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present"),
    pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(), reason="run tools/setup.sh first"),
]


def test_an4_lst1_stages_1_to_7_build_interleaved_sequences(tmp_path):
    from lst.data.timings import read_ctm

    work = tmp_path / "lst1"
    work.mkdir()
    for name in ("run.sh", "conf", "local", "db.sh", "cmd.sh"):
        src = RECIPE / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    for name in ("lst.sh", "path.sh", "utils"):
        (work / name).symlink_to((RECIPE / name).resolve())
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED), AN4=str(ARCHIVE), OMP_NUM_THREADS="1")
    cmd = ["./run.sh", "--stop_stage", "7", "--local_data_opts", "--max_utts 8 --ndev_utt 6",
           "--n_clusters", "8", "--nbpe", "30", "--nj", "1"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "Forced alignment of test with pocketsphinx" in proc.stdout + proc.stderr
    corpus = next((work / "dump" / "corpus").iterdir())
    for dset in ("train", "dev", "test"):
        raw = work / "dump" / "raw" / dset
        texts = dict(line.split(maxsplit=1) for line in (raw / "text").read_text().splitlines())
        words, phones = read_ctm(raw / "word_ctm"), read_ctm(raw / "phone_ctm")
        assert set(words) == set(texts) == set(phones)
        for utt, text in texts.items():
            assert [w.word for w in words[utt]] == text.split()
        seqs = (corpus / dset / "seqs").read_text().splitlines()
        inter = [s for s in seqs if s.startswith("inter_")]
        multi = [u for u, t in texts.items() if len(t.split()) >= 2]
        assert len(inter) == len((corpus / dset / "seqs.inter").read_text().splitlines()) >= 1
        assert {s.split()[0][len("inter_"):] for s in inter} <= set(multi)
        assert all("<t>" in s and "<s>" in s for s in inter)  # both modalities in one sequence
        assert len((corpus / dset / "docs").read_text().splitlines()) == len(texts)

    # local/pretrain_backbones.sh: continue a trained run (here the toy recipe's own LST, as the
    # "backbone recipe") on the AN4 corpus + the backbone's corpus within a FLOP budget, then pack
    paths = subprocess.run(["./run.sh", "--n_clusters", "8", "--nbpe", "30", "--print_paths", "true"], cwd=work,
                           env=env, capture_output=True, text=True)
    assert paths.returncode == 0, paths.stderr[-2000:]
    p = dict(line.split("=", 1) for line in paths.stdout.splitlines() if "=" in line)
    proc = subprocess.run(["./run.sh", "--stage", "8", "--stop_stage", "9", "--n_clusters", "8", "--nbpe", "30",
                           "--lst_args", "--max_epoch 1"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    run = next(d for d in (work / "exp").iterdir() if d.name.startswith("lst_train_lst_debug") and
               (d / "1epoch.pth").exists())
    shutil.copy(work / "conf" / "train_lst_debug.yaml", run / "train.yaml")  # the run's own config
    cmd = ["local/pretrain_backbones.sh", "--backbone_recipe", ".", "--backbone_runs", f"lst:exp/{run.name}",
           "--backbone_ckpt", "1epoch.pth", "--backbone_km", p["km_dir"], "--backbone_token_dir", p["token_dir"],
           "--backbone_corpus", p["corpus_dir"], "--backbone_valid", "dev", "--frame_rate_hz", "50",
           "--an4_repeat", "2", "--flop_budget", "3e9", "--target_epochs", "1", "--tag", "toy_bb"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    n_an4 = len((work / "dump" / "corpus" / "toy_bb_an4" / "train" / "seqs").read_text().splitlines())
    n_bb = len((work / p["corpus_dir"] / "train" / "seqs").read_text().splitlines())
    mix = (work / "dump" / "corpus" / "toy_bb_mix" / "train" / "seqs").read_text().splitlines()
    assert len(mix) == n_bb + 2 * n_an4 and sum(s.startswith("an4x2_") for s in mix) == n_an4
    an4_text = (work / "dump" / "corpus" / "toy_bb_an4" / "train" / "text").read_text()
    assert an4_text.split()[1:] and all(w == w.lower() for w in an4_text.split())  # for the backbone's lower-case BPE
    out = work / "exp" / "toy_bb" / "lst"
    ledger = json.loads((out / "budget_ledger.json").read_text())
    assert 0 < ledger["final"]["flops"] <= 3e9 and ledger["final"]["updates"] >= 1
    assert yaml.safe_load((out / "config.yaml").read_text())["init_param"] == [f"./exp/{run.name}/1epoch.pth"]
    assert (out / "packed.zip").is_file()
    # stage 5: per-kind NLL of the backbone before and after, on AN4 test (not trained on) and the backbone's valid
    for name in ("RESULTS_before.md", "RESULTS.md"):
        table = (out / name).read_text()
        assert "| an4_test | s2t |" in table and "| stories_dev | s2t |" in table
    assert "1epoch.pth" in (out / "RESULTS_before.md").read_text()
    # --init_from_backbone false: the same settings and budget from random weights (no --init_param)
    scratch = cmd[:-2] + ["--tag", "toy_scratch", "--init_from_backbone", "false", "--stop_stage", "5"]
    proc = subprocess.run(scratch, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    out = work / "exp" / "toy_scratch" / "lst"
    assert "from scratch" in proc.stdout + proc.stderr
    assert not yaml.safe_load((out / "config.yaml").read_text()).get("init_param")
    assert 0 < json.loads((out / "budget_ledger.json").read_text())["final"]["flops"] <= 3e9
    assert json.loads((out / "plan.json").read_text())["flop_budget"] == 3e9  # the plan's JSON alone
    assert (out / "packed.zip").is_file()
    # stage 5 of a run from scratch: the trained model only (there is no "before" model)
    assert "| an4_test | s2t |" in (out / "RESULTS.md").read_text() and not (out / "RESULTS_before.md").exists()
