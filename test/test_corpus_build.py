"""make_token_list + build_corpus CLIs on a tiny hand-made corpus."""
import json
import logging

import pytest

from lst.bin import build_corpus, make_token_list
from lst.data.sequence_format import parse_sequence
from lst.vocab import SpeechTextVocab, read_token_list


@pytest.fixture
def corpus_inputs(tmp_path):
    text = tmp_path / "text"
    text.write_text("u1 YES\nu2 GO NORTH\nu3 ELEVEN TWENTY\nu4 ONLY TEXT\n")
    units = tmp_path / "units"
    units.write_text("u1 0 0 1 2\nu2 3 3 4\nu3 5 6 7 7 7\nu5 1 2\n")
    info = tmp_path / "unit_info.json"
    info.write_text(json.dumps({"n_units": 8, "unit_rate_hz": 50.0, "dedup": False}))
    return tmp_path, text, units, info


def test_token_list_and_corpus(corpus_inputs, caplog):
    caplog.set_level(logging.INFO)
    d, text, units, info = corpus_inputs
    prefix, token_list = d / "bpe" / "bpe", d / "tokens.txt"
    assert make_token_list.main(["--text", str(text), "--unit_info", str(info), "--nbpe", "30",
                                 "--bpe_prefix", str(prefix), "--token_list", str(token_list)]) == 0
    vocab = SpeechTextVocab(read_token_list(token_list))
    assert vocab.n_units == 8 and vocab.n_text > 0

    out = d / "corpus" / "seqs"
    assert build_corpus.main(["--units", str(units), "--unit_info", str(info), "--text", str(text),
                              "--bpe_model", f"{prefix}.model", "--out", str(out)]) == 0
    lines = dict(line.split(" ", 1) for line in out.read_text().splitlines())
    # u1..u3 in both files -> 4 kinds each; u4 (text only) and u5 (units only) are counted skips
    assert sorted(lines) == sorted(f"{k}_{u}" for k in ("speech", "text", "s2t", "t2s") for u in ("u1", "u2", "u3"))
    assert "2 skipped (1 in text but not in units, 1 in units but not in text)" in caplog.text
    assert lines["speech_u3"] == "<s> 5 6 7 7 7"
    assert lines["s2t_u1"].startswith("<s> 0 0 1 2 <t> ")
    assert lines["t2s_u2"].startswith("<t> ") and lines["t2s_u2"].endswith("<s> 3 3 4")
    for key, items in lines.items():
        ids, _ = parse_sequence(items, vocab, where=key)
        assert (ids[1:-1] != 1).all(), f"{key}: BPE produced <unk> for training text"


def test_out_of_range_units_are_an_error(corpus_inputs, caplog):
    d, text, units, info = corpus_inputs
    info.write_text(json.dumps({"n_units": 5, "unit_rate_hz": 50.0}))
    prefix = d / "bpe"
    make_token_list.main(["--text", str(text), "--unit_info", str(info), "--nbpe", "20",
                          "--bpe_prefix", str(prefix), "--token_list", str(d / "t.txt")])
    assert build_corpus.main(["--units", str(units), "--unit_info", str(info), "--text", str(text),
                              "--bpe_model", f"{prefix}.model", "--out", str(d / "seqs")]) == 1
    assert "utterance u3 has unit ids [5, 6, 7, 7, 7] outside [0, 5)" in caplog.text


def test_missing_input_is_named(corpus_inputs, caplog):
    d, text, units, info = corpus_inputs
    assert build_corpus.main(["--units", str(d / "nope"), "--unit_info", str(info), "--text", str(text),
                              "--bpe_model", str(d / "x.model"), "--out", str(d / "seqs")]) == 1
    assert f"{d / 'nope'} not found" in caplog.text


def test_documents_keep_words_units_and_timings(tmp_path, caplog):
    """--docs_out: one word-level document per utterance (split at word boundaries to
    --max_len), from the same inputs as the pre-built sequences, which are still written."""
    import sentencepiece as spm

    from lst.data.documents import read_documents
    from lst.data.timings import read_ctm
    from test_interleave import _write_corpus

    caplog.set_level(logging.INFO)
    text = _write_corpus(tmp_path)
    common = ["--units", str(tmp_path / "units"), "--unit_info", str(tmp_path / "unit_info.json"),
              "--text", str(tmp_path / "text"), "--bpe_model", str(tmp_path / "bpe.model"),
              "--word_ctm", str(tmp_path / "word_ctm"), "--out", str(tmp_path / "seqs")]
    assert build_corpus.main(common + ["--docs_out", str(tmp_path / "docs"), "--max_len", "150"]) == 0
    assert len((tmp_path / "seqs").read_text().splitlines()) == 4 * 30  # the old kinds are unchanged
    docs = read_documents(tmp_path / "docs")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    units = {l.split()[0]: [int(u) for u in l.split()[1:]] for l in (tmp_path / "units").read_text().splitlines()}
    ctm = read_ctm(tmp_path / "word_ctm")
    n_split = 0
    for line in text:
        utt, *words = line.split()
        parts = [docs[utt]] if utt in docs else [d for k, d in sorted(docs.items()) if k.startswith(f"{utt}-p")]
        n_split += len(parts) > 1
        assert [w for p in parts for w in p.words] == words
        assert [u for p in parts for u in p.units] == units[utt]
        assert [t for p in parts for t in p.times] == [(round(w.start, 4), round(w.end, 4)) for w in ctm[utt]]
        assert [x for p in parts for ps in p.pieces for x in ps] == sp.encode(" ".join(words), out_type=str)
        assert all(p.worst_case_tokens() <= 150 for p in parts)
    assert n_split > 0 and "split at word boundaries" in caplog.text
    no_ctm = [c for c in common if c not in ("--word_ctm", str(tmp_path / "word_ctm"))]
    assert build_corpus.main(no_ctm + ["--docs_out", str(tmp_path / "d2")]) == 1
    assert "--docs_out needs --word_ctm" in caplog.text


def test_recipe_trains_on_the_configs_train_corpus(tmp_path):
    """lst.sh reads train_corpus (docs|seqs) and max_len from the training config: docs get their
    own stats dir, a bad value stops with a message naming the config."""
    import shutil
    import subprocess

    from conftest import REPO_ROOT

    work = tmp_path / "lst1"
    shutil.copytree(REPO_ROOT / "egs" / "mini_an4" / "lst1", work, symlinks=False,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", "corpus"))

    def paths(conf_text):
        (work / "conf" / "x.yaml").write_text(conf_text)
        r = subprocess.run(["./run.sh", "--lst_config", "conf/x.yaml", "--print_paths", "true"], cwd=work,
                           capture_output=True, text=True)
        return r.returncode, dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l), r.stderr

    rc, seqs, _ = paths("model: lst\n")
    assert rc == 0 and not seqs["stats_dir"].endswith("_docs")
    rc, docs, _ = paths("model: lst\nmodel_conf:\n    max_len: 512\ntrain_corpus: docs\n")
    assert rc == 0 and docs["stats_dir"] == seqs["stats_dir"] + "_docs"
    rc, _, err = paths("train_corpus: words\n")
    assert rc != 0 and "train_corpus must be seqs or docs" in err


def test_token_list_from_a_trained_bpe_model(corpus_inputs, caplog):
    """--bpe_from copies a trained sentencepiece model: same pieces and ids, the new unit_info's lineage."""
    from lst.stage_io import read_marker

    d, text, units, info = corpus_inputs
    first = d / "first"
    assert make_token_list.main(["--text", str(text), "--unit_info", str(info), "--nbpe", "30",
                                 "--bpe_prefix", str(first / "bpe"), "--token_list", str(first / "tokens.txt")]) == 0
    other_text = d / "other_text"  # other transcripts: a trained model would differ; the copy must not
    other_text.write_text("u1 ZULU\n")
    second = d / "second"
    assert make_token_list.main(["--text", str(other_text), "--unit_info", str(info), "--nbpe", "30",
                                 "--bpe_prefix", str(second / "bpe"), "--token_list", str(second / "tokens.txt"),
                                 "--bpe_from", str(first / "bpe.model")]) == 0
    assert (second / "bpe.model").read_bytes() == (first / "bpe.model").read_bytes()
    assert (second / "tokens.txt").read_text() == (first / "tokens.txt").read_text()
    assert read_marker(second)["params"]["bpe_from"] == str(first / "bpe.model")
    assert make_token_list.main(["--text", str(text), "--unit_info", str(info), "--bpe_prefix", str(d / "x" / "bpe"),
                                 "--token_list", str(d / "x" / "tokens.txt"), "--bpe_from", str(d / "nope.model")]) == 1
    assert f"--bpe_from {d / 'nope.model'}: no such sentencepiece model" in caplog.text
