"""asr.sh end to end on mini_an4 (slow): stages 1-9 in one run with a tiny random token_lm
package: data, unpack + units, s2t corpus (lower-cased transcripts), two fine-tuning epochs +
pack, greedy/beam decoding, ESPnet's own ASR baseline (its collect_stats, one training epoch,
decoding, WER), the comparison table and the WER-vs-updates curve (every kept epoch decoded).
One run instead of two (stages 1-5 + 8-9, and 1-2 + 6-7): stages 1-2 are shared."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
    # fine-tuned with a CTC head (model_conf ctc_weight), so stage 10 can decode jointly
    conf = (work / "conf" / "finetune_asr.yaml").read_text()
    (work / "conf" / "finetune_asr_ctc.yaml").write_text(conf + "model_conf:\n    ctc_weight: 0.3\n")
    env = dict(os.environ, LST_ROOT=str(REPO_ROOT), LST_SHARED=str(SHARED))
    cmd = ["./run.sh", "--stage", "1", "--stop_stage", "9", "--pretrained_model", "exp/packed/token_lm.zip",
           "--finetune_config", "conf/finetune_asr_ctc.yaml",
           "--finetune_args", "--max_epoch 2 --keep_nbest_models 5", "--max_len", "4", "--beam_size", "2",
           "--espnet_asr_args", "--max_epoch 1", "--lm_text_case", "lower", "--curve_sets", "test"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for stage in range(1, 10):
        assert f"Stage {stage} done" in out, f"stage {stage} did not report"
    # the LM side: fine-tuned, packed, decoded greedy and beam
    ft = work / "exp" / "asr_token_lm"
    results = (ft / "RESULTS.md").read_text()
    assert "| test | greedy |" in results and "| test | beam |" in results
    assert (ft / "packed.zip").exists()
    assert "--finetune_args --max_epoch\\ 2\\ --keep_nbest_models\\ 5" in (ft / "run.sh").read_text()  # kept
    # --lm_text_case lower: the corpus was built from lower-cased transcripts (ids kept)
    raw = (work / "dump" / "raw" / "train" / "text").read_text()
    lower = (work / "dump" / "corpus" / "pkg_token_lm_s2t_lower" / "train" / "text").read_text()
    assert lower != raw and lower.splitlines()[0].split()[0] == raw.splitlines()[0].split()[0]
    assert lower.split("\n")[0].split(" ", 1)[1] == raw.split("\n")[0].split(" ", 1)[1].lower()
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
    # stage 9: the pretrained backbone (epoch 0) and both kept epochs decoded greedy on test
    curve = json.loads((work / "exp" / "asr_curve" / "curve.json").read_text())
    pts = [r for r in curve["rows"] if r["system"] == "token_lm" and r["set"] == "test"]
    n_train = len((work / "dump" / "raw" / "train" / "text").read_text().splitlines())
    n_test = len((work / "dump" / "raw" / "test" / "text").read_text().splitlines())
    per_epoch = -(-n_train // 4)  # mini_an4's finetune_asr.yaml: sorted batches of 4
    assert [(p["epoch"], p["updates"]) for p in pts] == [(0, 0), (1, per_epoch), (2, 2 * per_epoch)]
    for p in pts:
        score = json.loads((ft / "curve" / f"decode_test_ep{p['epoch']}" / "score.json").read_text())
        assert p["wer"] == round(score["wer"], 2) and p["n_utts"] == n_test
    info = json.loads((ft / "curve" / "decode_test_ep2" / "decode_info.json").read_text())["summary"]
    assert info["model_file"].endswith("exp/asr_token_lm/2epoch.pth") and info["beam"] == 1
    (reach,) = curve["reach"]
    assert reach["target_wer"] == pts[-1]["wer"] and reach["updates_to_reach"] <= 2 * per_epoch
    assert (work / "exp" / "asr_curve" / "wer_vs_updates.png").stat().st_size > 1000
    # stage 9 resumes: nothing is decoded again
    proc = subprocess.run(["./run.sh", "--stage", "9", "--pretrained_model", "exp/packed/token_lm.zip",
                           "--curve_sets", "test"], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Stage 9 done" in proc.stdout + proc.stderr and "epoch 1: test" not in proc.stdout + proc.stderr
    # stage 10: the checkpoint with the lowest validation WER of stage 9, decoded on valid + test
    # (--pick_ctc_weights: the joint decoding's CTC weight picked on valid first)
    pick = ["./run.sh", "--stage", "9", "--stop_stage", "10", "--pretrained_model", "exp/packed/token_lm.zip",
            "--finetune_config", "conf/finetune_asr_ctc.yaml", "--max_len", "4", "--beam_size", "2",
            "--pick_decode_modes", "greedy joint", "--pick_ctc_weights", "0.2 0.9"]
    proc = subprocess.run(pick + ["--curve_sets", "test"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode != 0 and "--pick_decode_modes needs --curve_sets to include valid" in proc.stdout + proc.stderr
    proc = subprocess.run(pick + ["--curve_sets", "valid test"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    picked = json.loads((ft / "picked_checkpoint.json").read_text())
    valid_wer = {e: json.loads((ft / "curve" / f"decode_valid_ep{e}" / "score.json").read_text())["wer"] for e in (1, 2)}
    assert picked["set"] == "valid" and round(min(valid_wer.values()), 2) == picked["wer"]
    assert valid_wer[picked["epoch"]] == min(valid_wer.values())
    n = picked["epoch"]
    for dset in ("valid", "test"):
        info = json.loads((ft / f"decode_{dset}_greedy_ep{n}" / "decode_info.json").read_text())["summary"]
        assert info["model_file"].endswith(f"exp/asr_token_lm/{n}epoch.pth")
    tried = {w: json.loads((ft / "ctc_weight" / f"decode_valid_joint_w{w}_ep{n}" / "score.json").read_text())
             for w in ("0.2", "0.9")}
    chosen = json.loads((ft / "picked_ctc_weight.json").read_text())
    best = min(tried, key=lambda w: (tried[w]["wer"], tried[w]["cer"], w != "0.2"))
    assert chosen["set"] == "valid" and chosen["ctc_weight"] == float(best) and len(chosen["tried"]) == 2
    for dset in ("valid", "test"):
        info = json.loads((ft / f"decode_{dset}_joint_ep{n}" / "decode_info.json").read_text())["summary"]
        assert info["ctc_weight"] == float(best) and info["beam"] == 2, info
    assert f"joint CTC weight {best} (lowest valid WER of 0.2 0.9" in proc.stdout + proc.stderr
    assert f"| test | greedy, epoch {n} |" in (ft / "RESULTS.md").read_text()
    # --pick_average 2: the average of the two best epochs on valid (here both kept ones) decoded instead
    avg = pick[:11] + ["--curve_sets", "valid test", "--pick_decode_modes", "greedy"]
    proc = subprocess.run(avg + ["--pick_average", "0"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "--pick_average must be a whole number >= 1, got '0'" in proc.stdout + proc.stderr
    proc = subprocess.run(avg + ["--pick_average", "2"], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    ave = json.loads((ft / "ave2best.json").read_text())
    assert sorted(ave["epochs"]) == [1, 2] and ave["epochs"][0] == n and ave["set"] == "valid"
    for dset in ("valid", "test"):
        info = json.loads((ft / f"decode_{dset}_greedy_ave2" / "decode_info.json").read_text())["summary"]
        assert info["model_file"].endswith("exp/asr_token_lm/ave2best.pth")
    eps = " ".join(map(str, ave["epochs"]))
    assert f"| test | greedy, average of epochs {eps} |" in (ft / "RESULTS.md").read_text()
    assert f"| test | greedy, epoch {n} |" in (ft / "RESULTS.md").read_text()  # the single epoch's rows stay
    # --pick_length_bonuses with --pick_length_norm 0: ESPnet's --penalty picked with the CTC weight on valid
    lb = ["./run.sh", "--stage", "10", "--stop_stage", "10"] + pick[5:11] + [
        "--beam_size", "2", "--pick_decode_modes", "joint", "--pick_ctc_weights", "0.9", "--pick_length_norm", "0"]
    for bad, msg in ((["--pick_length_bonuses", "0 x"], "--pick_length_bonuses: 'x' is not a number"),
                     (["--pick_length_bonuses", "0 2", "--pick_decode_modes", "greedy"], "add joint to --pick_decode_modes")):
        proc = subprocess.run(lb + bad, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0 and msg in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    proc = subprocess.run(lb + ["--pick_length_bonuses", "0 2"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    tried = {b: json.loads((ft / "ctc_weight" / f"decode_valid_joint_w0.9_ln0_lb{b}_ep{n}" / "score.json").read_text())
             for b in ("0", "2")}
    best = min(tried, key=lambda b: (tried[b]["wer"], tried[b]["cer"], b != "0"))
    chosen = json.loads((ft / "picked_ctc_weight_ln0.json").read_text())
    assert (chosen["ctc_weight"], chosen["length_bonus"], len(chosen["tried"])) == (0.9, float(best), 2)
    for dset in ("valid", "test"):
        info = json.loads((ft / f"decode_{dset}_joint_ln0_lb{best}_ep{n}" / "decode_info.json").read_text())["summary"]
        assert (info["ctc_weight"], info["length_penalty"], info["length_bonus"]) == (0.9, 0.0, float(best)), info
    assert f"| test | joint, epoch {n}, CTC 0.9, length norm 0, bonus {best} |" in (ft / "RESULTS.md").read_text()
    assert (f"joint CTC weight 0.9, length bonus {best} (lowest valid WER of CTC weights 0.9 x length bonuses "
            "0 2, length norm 0") in proc.stdout + proc.stderr
    # --pick_pre_beam ctc: the joint searches' candidates from the CTC prefix scores, named _pbctc
    pb = ["./run.sh", "--stage", "10", "--stop_stage", "10"] + pick[5:11] + [
        "--beam_size", "2", "--pick_decode_modes", "joint", "--pick_ctc_weights", "0.9"]
    proc = subprocess.run(pb + ["--pick_pre_beam", "att"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "--pick_pre_beam must be lm or ctc, got 'att'" in proc.stdout + proc.stderr
    proc = subprocess.run(pb + ["--pick_pre_beam", "ctc"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert json.loads((ft / "picked_ctc_weight_pbctc.json").read_text())["ctc_weight"] == 0.9
    assert (ft / "ctc_weight" / f"decode_valid_joint_w0.9_pbctc_ep{n}" / "score.json").is_file()
    for dset in ("valid", "test"):
        info = json.loads((ft / f"decode_{dset}_joint_pbctc_ep{n}" / "decode_info.json").read_text())["summary"]
        assert (info["ctc_weight"], info["pre_beam"]) == (0.9, "ctc"), info
    assert f"| test | joint, epoch {n}, CTC 0.9, CTC pre-beam |" in (ft / "RESULTS.md").read_text()
    # --init_from_pretrained false: the same fine-tuning from random weights (the control of what pretraining adds)
    log = (ft / "train.log").read_text()
    assert "Loading pretrained params from exp/pretrained_token_lm/model.pth" in log
    assert (ft / "initial_weights").read_text().strip() == "exp/pretrained_token_lm/model.pth"
    rand = ["./run.sh", "--pretrained_model", "exp/packed/token_lm.zip", "--finetune_config", "conf/finetune_asr_ctc.yaml",
            "--finetune_args", "--max_epoch 1", "--lm_text_case", "lower", "--curve_sets", "test", "--max_len", "4"]
    proc = subprocess.run(rand + ["--stage", "4", "--init_from_pretrained", "yes"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "--init_from_pretrained is a boolean option: expected true or false, got 'yes'" in proc.stdout + proc.stderr
    shutil.rmtree(ft)  # otherwise stage 4 resumes the pretrained run
    proc = subprocess.run(rand + ["--stage", "4", "--stop_stage", "4", "--init_from_pretrained", "false"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "token_lm: random initial weights (--init_from_pretrained false)" in proc.stdout + proc.stderr
    assert "Loading pretrained params" not in (ft / "train.log").read_text()
    assert yaml.safe_load((ft / "config.yaml").read_text())["init_param"] == []
    assert (ft / "initial_weights").read_text().strip() == "random" and (ft / "1epoch.pth").exists()
    # resumed (one more epoch): only with the start it had; the record is kept when refused
    more = rand[:5] + ["--finetune_args", "--max_epoch 2"] + rand[7:] + ["--stage", "4", "--stop_stage", "4"]
    proc = subprocess.run(more, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode != 0
    assert ("exp/asr_token_lm started from random: resume it with the same --init_from_pretrained, or remove it to "
            "start over") in proc.stdout + proc.stderr
    assert (ft / "initial_weights").read_text().strip() == "random" and not (ft / "2epoch.pth").exists()
    proc = subprocess.run(more + ["--init_from_pretrained", "false"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (ft / "initial_weights").read_text().strip() == "random" and (ft / "2epoch.pth").exists()
    # stage 9 (a later call, without the flag): no epoch 0, which would be the backbone the run did not start from
    proc = subprocess.run(rand + ["--stage", "9", "--stop_stage", "9"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    curve = json.loads((work / "exp" / "asr_curve" / "curve.json").read_text())
    assert [r["epoch"] for r in curve["rows"] if r["system"] == "token_lm"] == [2]  # (the toy conf keeps 1 epoch)
