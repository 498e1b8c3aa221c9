"""No stale model evaluated as new (issue 16, item 1).

The issue's scenario: after a finished training, the corpus is rebuilt (new k-means -> new
units -> new corpus, or utterances added); ``lst_train --resume true`` into the same
experiment found the finished checkpoint and stage 10 evaluated the *old* model on the *new*
data with rc 0. Training now records its inputs (``train_inputs.json``) and refuses to resume
into a directory trained on other inputs; evaluation refuses data made from other inputs.
"""
import json
import shutil
from pathlib import Path

import pytest

from lst.stage_io import MARKER, TRAIN_INPUTS, write_file_marker
from lst.tasks.toy import write_toy_corpus, write_toy_experiment


def _train(argv, out, *extra):
    from lst.bin.lst_train import main

    main([*argv, "--output_dir", str(out), "--resume", "true", *extra])


def _exit_message(fn, *a):
    with pytest.raises(SystemExit) as e:
        fn(*a)
    assert isinstance(e.value.code, str), e.value.code
    return e.value.code


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("stale")
    argv = write_toy_experiment(work, n_train=40, n_valid=8, max_epoch=1, batch_size=8, d_model=8)
    _train(argv, work / "exp")
    return work, argv


def test_training_records_its_inputs_and_marks_completion(trained):
    work, _ = trained
    rec = json.loads((work / "exp" / TRAIN_INPUTS).read_text())
    assert any(k.startswith("train:") for k in rec["data"]) and any(k.startswith("valid:") for k in rec["data"])
    assert rec["options"]["model"] == "token_lm" and rec["options"]["model_conf"]["d_model"] == 8
    marker = json.loads((work / "exp" / MARKER).read_text())
    assert marker["stage"] == "lst_train" and marker["inputs"] == rec["data"]


def test_resume_with_the_same_inputs_is_allowed(trained):
    work, argv = trained
    _train(argv, work / "exp")  # "already reached max_epoch", rc 0
    assert (work / "exp" / MARKER).is_file()


def test_resume_after_the_corpus_changed_is_refused(trained, tmp_path):
    work, argv = trained
    exp = tmp_path / "exp"
    shutil.copytree(work / "exp", exp)
    train = work / "train"
    saved = train.read_bytes()
    write_toy_corpus(train, 40, seed=9)  # the corpus rebuilt from other units
    try:
        msg = _exit_message(_train, argv, exp)
    finally:
        train.write_bytes(saved)
    assert "\n" not in msg
    assert f"{exp} holds a model trained on other inputs" in msg and f"train data {train}" in msg
    assert "--lst_tag NEW" in msg


def test_resume_after_a_model_option_changed_is_refused(trained, tmp_path):
    work, argv = trained
    exp = tmp_path / "exp"
    shutil.copytree(work / "exp", exp)
    msg = _exit_message(_train, argv, exp, "--model_conf", "d_model=16")
    assert "option model_conf" in msg
    # max_epoch is not model-defining: continuing training for more epochs is a resume
    _train(argv, exp, "--max_epoch", "2")
    assert (exp / "2epoch.pth").exists()


def _evaluate(exp, data):
    from lst.bin.evaluate import main

    return main(["--config", str(exp / "config.yaml"), "--model_file", str(exp / "1epoch.pth"),
                 "--data", f"valid={data}", "--results", str(exp / "RESULTS.md")])


def test_evaluate_refuses_data_changed_since_training(trained, tmp_path, caplog):
    work, _ = trained
    exp = tmp_path / "exp"
    shutil.copytree(work / "exp", exp)
    assert _evaluate(exp, work / "valid") == 0
    valid = work / "valid"
    saved = valid.read_bytes()
    write_toy_corpus(valid, 8, seed=11)
    try:
        (exp / "RESULTS.md").unlink()
        assert _evaluate(exp, valid) == 1
    finally:
        valid.write_bytes(saved)
    assert f"{valid} changed since" in caplog.text
    assert not (exp / "RESULTS.md").exists()


def test_evaluate_refuses_a_corpus_made_from_another_codebook(trained, tmp_path, caplog):
    """A test set never seen in training: its marker's lineage must match the training data's."""
    work, argv = trained
    d = tmp_path / "corpus"
    for name, km in (("train", "km-A"), ("valid", "km-A"), ("test", "km-B")):
        (d / name).mkdir(parents=True)
        shutil.copy(work / ("valid" if name != "train" else "train"), d / name / "seqs")
        write_file_marker(d / name, "build_corpus", [d / name / "seqs"], lineage={"learn_kmeans": km})
    argv = [a.replace(f"{work}/train,", f"{d}/train/seqs,").replace(f"{work}/valid,", f"{d}/valid/seqs,")
            for a in argv]
    _train(argv, tmp_path / "exp")
    rec = json.loads((tmp_path / "exp" / TRAIN_INPUTS).read_text())
    assert rec["lineage"] == {"learn_kmeans": "km-A"}
    exp = tmp_path / "exp"
    assert _evaluate(exp, d / "valid/seqs") == 0
    assert _evaluate(exp, d / "test/seqs") == 1
    assert "was made from another learn_kmeans output" in caplog.text


def test_training_refuses_corpora_made_from_different_codebooks(trained, tmp_path):
    work, argv = trained
    d = tmp_path / "corpus"
    for name, km in (("train", "km-A"), ("valid", "km-B")):
        (d / name).mkdir(parents=True)
        shutil.copy(work / name, d / name / "seqs")
        write_file_marker(d / name, "build_corpus", [d / name / "seqs"], lineage={"learn_kmeans": km})
    argv = [a.replace(f"{work}/train,", f"{d}/train/seqs,").replace(f"{work}/valid,", f"{d}/valid/seqs,")
            for a in argv]
    msg = _exit_message(_train, argv, tmp_path / "exp")
    assert "different learn_kmeans outputs" in msg and "train/seqs" in msg and "valid/seqs" in msg
    assert not Path(tmp_path / "exp" / "1epoch.pth").exists()
