"""egs/rocstories/lst1/local/text_corpus.sh --step append: the text-only lines reach both training
files, the pre-built ``seqs`` and the paper protocol's ``docs`` (spoken documents drawn every
epoch), and the task reads the mixed docs file (documents drawn, text sequences unchanged)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

sentencepiece = pytest.importorskip("sentencepiece")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs/rocstories/lst1"
DOC = {"words": ["he", "ran"], "pieces": [["▁he"], ["▁ran"]], "units": [3, 3, 5, 7, 7, 1],
       "segs": [[0, 3], [1, 3]], "times": [[0.0, 0.12], [0.12, 0.24]]}  # lst/data/documents.py


def make_recipe(tmp_path):
    rec = tmp_path / "recipe"
    (rec / "local").mkdir(parents=True)
    for name in ("path.sh", "utils"):
        (rec / name).symlink_to(RECIPE / name)
    (rec / "local/text_corpus.sh").symlink_to(RECIPE / "local/text_corpus.sh")
    (rec / "data/text_only").mkdir(parents=True)
    (rec / "data/text_only/text").write_text("textroc1 she sat down\ntextroc2 he ran home\n", encoding="utf-8")
    text = tmp_path / "bpe_text"
    text.write_text("she sat down he ran home the end\n" * 20, encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "bpe"), vocab_size=20,
                                             model_type="bpe", bos_id=-1, eos_id=-1, minloglevel=2)
    corpus = rec / "corpus/train"
    corpus.mkdir(parents=True)
    (corpus / "seqs").write_text("speech_a <s> 3 3 5\ntext_textroc1 <t> ▁old\n", encoding="utf-8")
    (corpus / "docs").write_text(f"a {json.dumps(DOC)}\ntext_textroc9 <t> ▁stale\n", encoding="utf-8")
    units = rec / "units/train"
    units.mkdir(parents=True)
    (units / "units").write_text("a 3 3 5 7 7 1\n")
    return rec


def run_append(rec, tmp_path):
    env = dict(os.environ, LST_ROOT=str(ROOT))
    return subprocess.run(["bash", "local/text_corpus.sh", "--step", "append", "--units_dir", "units",
                           "--bpe_model", str(tmp_path / "bpe.model"), "--corpus_dir", "corpus"],
                          cwd=rec, env=env, capture_output=True, text=True)


def test_append_reaches_seqs_and_docs_and_is_idempotent(tmp_path):
    rec = make_recipe(tmp_path)
    r = run_append(rec, tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "2 documents" not in r.stdout and "1 documents + 2 text-only sequences" in r.stdout
    seqs = (rec / "corpus/train/seqs").read_text(encoding="utf-8").splitlines()
    docs = (rec / "corpus/train/docs").read_text(encoding="utf-8").splitlines()
    text_seqs = sorted(x for x in seqs if x.startswith("text_text"))
    text_docs = sorted(x for x in docs if x.startswith("text_text"))
    assert [x.split()[0] for x in text_seqs] == ["text_textroc1", "text_textroc2"]  # the old line replaced
    assert text_docs == text_seqs  # the same text-only sequences in both files, the stale one gone
    assert [x.split()[0] for x in docs if not x.startswith("text_text")] == ["a"]  # the document kept
    assert run_append(rec, tmp_path).returncode == 0
    assert (rec / "corpus/train/docs").read_text(encoding="utf-8").splitlines() == docs  # re-running: same file


def test_the_task_reads_the_mixed_docs_file(tmp_path):
    from lst.data.batch import DocumentPreprocessor
    from lst.vocab import build_token_list

    tokens = build_token_list(["▁he", "▁ran", "▁she"], 8)
    pre = DocumentPreprocessor(tokens, stream_mix="paper", seed=0)
    text = pre("text_textroc1", {"seq": "<t> ▁she ▁ran"})
    seq = [tokens[i] for i in text["seq"]]
    assert seq[seq.index("<t>"):] == ["<t>", "▁she", "▁ran", "<sos/eos>"]  # passed through unchanged
    kinds = set()
    for epoch in range(1, 13):  # a document is drawn anew each epoch: text (2/3) or interleaved (1/3)
        pre.set_epoch(epoch)
        drawn = [tokens[i] for i in pre("a", {"seq": json.dumps(DOC)})["seq"]]
        kinds.add(any(t.startswith("<u") for t in drawn))
        assert "▁he" in drawn or "<u3>" in drawn
    assert kinds == {True, False}, "12 epochs of the paper mix drew only one kind"
