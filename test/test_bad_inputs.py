"""Bad-input matrix for every stage-level tool, and idempotency of the deterministic ones.

Every bad input must end either in a clear one-line error that names the file/utterance,
or in a counted skip in the tool's summary ("N in, M written, K skipped (reasons)") whose
counts add up, with each skipped utterance listed: nothing is silently dropped.

The tools run in-process through their ``main(argv)`` (the same code ``python -m lst.bin.X``
runs, minus the interpreter start-up); ``_cli`` reproduces the CLI contract: a ``ToolError``
or a logged ERROR is the one-line message, the return value / exit status is the rc.
A few cases run the real command line in a subprocess.
"""
import filecmp
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"(\d+) in, (\d+) written, (\d+) skipped(?: \(([^)]*)\))?")


def _cli(caplog, tool, argv):
    """-> (rc, one-line error or None, full log text) for ``python -m lst.bin.<tool> argv``."""
    from lst.units.io import ToolError

    mod = importlib.import_module(f"lst.bin.{tool}")
    caplog.clear()
    err = None
    with caplog.at_level(logging.INFO):
        try:
            rc = mod.main(argv) or 0
        except ToolError as e:
            rc, err = 1, str(e)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
            err = None if isinstance(e.code, int) else str(e.code)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if err is None and errors:
        err = errors[-1]
    return rc, err, caplog.text


def _assert_error(rc, err, *must_name, one_line=True):
    assert rc != 0, "expected a failure"
    assert err, "failed without an error message"
    if one_line:
        assert "\n" not in err.strip(), f"not one line: {err!r}"
    for name in must_name:
        assert str(name) in err, f"{name!r} not named in: {err!r}"


def _summary(log, tool):
    lines = [ln for ln in log.splitlines() if f"{tool}:" in ln and SUMMARY.search(ln)]
    assert lines, f"no '{tool}: N in, M written, K skipped' summary in:\n{log}"
    n_in, written, skipped, reasons = SUMMARY.search(lines[-1]).groups()
    n_in, written, skipped = int(n_in), int(written), int(skipped)
    assert n_in == written + skipped, lines[-1]
    counted = sum(int(n) for n in re.findall(r": (\d+)", reasons or ""))
    assert counted == skipped, lines[-1]
    return n_in, written, skipped, reasons or ""


def _tone(sr, sec=0.6, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * sec)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    return np.stack([x, 0.5 * x], 1) if channels == 2 else x


GOOD = {"a_good1": 0.6, "a_good2": 0.8, "a_good3": 0.7}
REPAIRED = {"b_stereo": "downmixed", "c_sr8k": "resampled", "d_sr44k": "resampled"}
BAD = {"e_corrupt": "unreadable", "f_empty": "unreadable", "g_zero": "empty", "h_missing": "missing"}
TRANSCRIPTS = ["hello world", "the cat sat", "yes we can", "a b c", "good morning", "cats and dogs"]


def _write_data_dir(d: Path, utts):
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in sorted(utts.items())))
    (d / "text").write_text("".join(f"{u} {TRANSCRIPTS[i % len(TRANSCRIPTS)]}\n"
                                    for i, u in enumerate(sorted(utts))))
    (d / "utt2spk").write_text("".join(f"{u} spk1\n" for u in sorted(utts)))
    (d / "spk2utt").write_text("spk1 " + " ".join(sorted(utts)) + "\n")


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """A data dir with good, repairable (stereo, 8 kHz, 44.1 kHz) and broken audio."""
    root = tmp_path_factory.mktemp("bad_audio")
    w = root / "wav"
    w.mkdir()
    for i, (u, sec) in enumerate(GOOD.items()):
        sf.write(w / f"{u}.wav", _tone(16000, sec, seed=i), 16000, subtype="PCM_16")
    sf.write(w / "b_stereo.wav", _tone(16000, 0.6, channels=2), 16000, subtype="PCM_16")
    sf.write(w / "c_sr8k.wav", _tone(8000, 0.6), 8000, subtype="PCM_16")
    sf.write(w / "d_sr44k.wav", _tone(44100, 0.6), 44100, subtype="PCM_16")
    (w / "e_corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(100))
    (w / "f_empty.wav").write_bytes(b"")
    sf.write(w / "g_zero.wav", np.zeros(0), 16000, subtype="PCM_16")
    utts = {u: str(w / f"{u}.wav") for u in [*GOOD, *REPAIRED, *BAD]}
    _write_data_dir(root / "data", utts)
    return root


@pytest.fixture(scope="module")
def formatted(audio, tmp_path_factory):
    """format_wav on the mixed data dir (a module fixture: later stages build on it)."""
    from lst.bin.format_wav import main

    out = tmp_path_factory.mktemp("raw")
    handler, root = _ListHandler(), logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        main(["--wav_scp", str(audio / "data/wav.scp"), "--out_dir", str(out)])
    finally:
        root.removeHandler(handler)
    return out, "\n".join(handler.lines)


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


# ---- stage 2: format_wav --------------------------------------------------------------


def test_format_wav_counts_every_bad_file_and_repairs_the_rest(audio, formatted):
    out, log = formatted
    n_in, written, skipped, reasons = _summary(log, "format_wav")
    assert (n_in, written, skipped) == (10, 6, 4)
    assert "unreadable: 2" in reasons and "empty: 1" in reasons and "missing: 1" in reasons
    listed = dict(line.split(" ", 1) for line in (out / "skipped").read_text().splitlines())
    assert set(listed) == set(BAD)
    for utt, reason in BAD.items():
        assert listed[utt].startswith(reason) and f"{utt}.wav" in listed[utt], listed[utt]
    kept = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert set(kept) == set(GOOD) | set(REPAIRED)  # every input is either written or listed
    for utt in REPAIRED:
        data, sr = sf.read(kept[utt])
        assert sr == 16000 and data.ndim == 1
        assert len(data) / sr == pytest.approx(0.6, abs=0.01)  # resampling kept the duration
    assert "downmixed: 1" in log and "resampled: 2" in log
    # the per-utterance files follow the survivors
    assert [ln.split()[0] for ln in (out / "text").read_text().splitlines()] == sorted(kept)


def test_format_wav_all_inputs_bad_is_one_line_error(audio, tmp_path, caplog):
    d = tmp_path / "data"
    _write_data_dir(d, {u: str(audio / "wav" / f"{u}.wav") for u in BAD})
    rc, err, _ = _cli(caplog, "format_wav", ["--wav_scp", str(d / "wav.scp"), "--out_dir", str(tmp_path / "o")])
    _assert_error(rc, err, "all 4 inputs were skipped", "e_corrupt")


def test_format_wav_missing_input_cli_one_line(tmp_path):
    """The real command line: one line on stderr, exit status 1, naming the file."""
    p = subprocess.run([sys.executable, "-m", "lst.bin.format_wav", "--wav_scp", str(tmp_path / "nope/wav.scp"),
                        "--out_dir", str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and "flash_attn" not in ln.lower()
             and "flash attention" not in ln.lower()]
    assert len(lines) == 1 and "nope/wav.scp not found" in lines[0], p.stderr


def test_format_wav_duplicate_utterance_id(audio, tmp_path, caplog):
    d = tmp_path / "data"
    d.mkdir()
    good = audio / "wav" / "a_good1.wav"
    (d / "wav.scp").write_text(f"a_good1 {good}\na_good2 {audio / 'wav/a_good2.wav'}\na_good1 {good}\n")
    rc, err, log = _cli(caplog, "format_wav", ["--wav_scp", str(d / "wav.scp"), "--out_dir", str(tmp_path / "o")])
    if rc != 0:
        _assert_error(rc, err, "a_good1")
    else:
        n_in, written, skipped, reasons = _summary(log, "format_wav")
        assert skipped == 1 and "dup" in reasons
        ids = [ln.split()[0] for ln in (tmp_path / "o/wav.scp").read_text().splitlines()]
        assert len(ids) == len(set(ids))


# ---- stage 1: validate_data_dir ------------------------------------------------------


@pytest.mark.parametrize("case", ["text_not_in_wav_scp", "duplicate_id", "non_utf8_text", "empty_transcript",
                                  "missing_utt2spk", "empty_data_dir"])
def test_validate_data_dir_names_the_problem(audio, tmp_path, caplog, case):
    d = tmp_path / "data"
    shutil.copytree(audio / "data", d)
    text = (d / "text").read_text().splitlines()
    if case == "text_not_in_wav_scp":
        (d / "text").write_text("\n".join(text + ["z_only_in_text hello"]) + "\n")
        expect = ["z_only_in_text", "text"]
    elif case == "duplicate_id":
        (d / "text").write_text("\n".join(text[:1] + text) + "\n")
        expect = ["duplicate utterance id a_good1", "text:2"]
    elif case == "non_utf8_text":
        (d / "text").write_bytes(b"\n".join(t.encode() for t in text[:2]) + b"\na_good3 caf\xe9\n")
        expect = ["text:3", "not valid UTF-8"]
    elif case == "empty_transcript":
        (d / "text").write_text("\n".join(text[:-1] + [text[-1].split()[0]]) + "\n")
        expect = ["empty", text[-1].split()[0]]
    elif case == "empty_data_dir":
        for name in ("wav.scp", "text", "utt2spk", "spk2utt"):
            (d / name).write_text("")
        expect = ["wav.scp: no utterances"]
    else:
        (d / "utt2spk").unlink()
        expect = ["utt2spk not found"]
    rc, err, _ = _cli(caplog, "validate_data_dir", [str(d)])
    # a data dir with several problems lists them one per line; every line names file + utt
    _assert_error(rc, err, *expect, one_line=False)


# ---- stages 3-5: features, k-means, units --------------------------------------------


@pytest.fixture(scope="module")
def units(formatted, tmp_path_factory):
    from lst.bin import dump_features, dump_units, learn_kmeans

    raw, _ = formatted
    root = tmp_path_factory.mktemp("units")
    dump_features.main(["--wav_scp", str(raw / "wav.scp"), "--out_dir", str(root / "feats")])
    learn_kmeans.main(["--feats_dir", str(root / "feats"), "--n_clusters", "4", "--out_dir", str(root / "km")])
    dump_units.main(["--feats_dir", str(root / "feats"), "--km_dir", str(root / "km"),
                     "--out_dir", str(root / "units")])
    return root


def test_dump_features_counts_unreadable_audio(formatted, units, tmp_path, caplog):
    raw, _ = formatted
    scp = tmp_path / "wav.scp"
    scp.write_text((raw / "wav.scp").read_text() + f"zz_broken {tmp_path / 'broken.wav'}\n")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    rc, err, log = _cli(caplog, "dump_features", ["--wav_scp", str(scp), "--out_dir", str(tmp_path / "f")])
    assert rc == 0, err
    n_in, written, skipped, reasons = _summary(log, "dump_features")
    assert (n_in, written, skipped) == (7, 6, 1)
    assert "zz_broken" in (tmp_path / "f/skipped").read_text()


@pytest.mark.parametrize("tool,argv,names", [
    ("dump_features", ["--wav_scp", "{tmp}/none/wav.scp", "--out_dir", "{tmp}/o"], ["none/wav.scp"]),
    ("learn_kmeans", ["--feats_dir", "{tmp}/nofeats", "--n_clusters", "4", "--out_dir", "{tmp}/o"],
     ["nofeats/", "dump_features"]),
    ("dump_units", ["--feats_dir", "{units}/feats", "--km_dir", "{tmp}/nokm", "--out_dir", "{tmp}/o"],
     ["nokm/km.pkl", "learn_kmeans"]),
    ("make_token_list", ["--text", "{units}/../raw_text_missing", "--unit_info", "{units}/units/unit_info.json",
                         "--bpe_prefix", "{tmp}/bpe/bpe", "--token_list", "{tmp}/tokens.txt"], ["raw_text_missing"]),
    ("build_corpus", ["--units", "{tmp}/no_units", "--unit_info", "{units}/units/unit_info.json",
                      "--text", "{tmp}/t", "--bpe_model", "{tmp}/b.model", "--out", "{tmp}/seqs"], ["no_units"]),
])
def test_missing_input_is_one_line_error(units, tmp_path, caplog, tool, argv, names):
    argv = [a.format(tmp=tmp_path, units=units) for a in argv]
    rc, err, _ = _cli(caplog, tool, argv)
    _assert_error(rc, err, *names)


# ---- stages 6-7: token list and corpus ----------------------------------------------


@pytest.fixture(scope="module")
def tokens(formatted, units, tmp_path_factory):
    from lst.bin import make_token_list

    raw, _ = formatted
    root = tmp_path_factory.mktemp("tokens")
    rc = make_token_list.main(["--text", str(raw / "text"), "--unit_info", str(units / "units/unit_info.json"),
                               "--nbpe", "30", "--bpe_prefix", str(root / "bpe/bpe"),
                               "--token_list", str(root / "tokens.txt")])
    assert rc == 0
    return root


def test_make_token_list_bad_text(units, tmp_path, caplog):
    info = str(units / "units/unit_info.json")
    common = ["--unit_info", info, "--bpe_prefix", str(tmp_path / "bpe/bpe"), "--token_list", str(tmp_path / "t.txt")]
    (tmp_path / "text").write_bytes(b"u1 hello\nu2 caf\xe9 au lait\n")
    rc, err, _ = _cli(caplog, "make_token_list", ["--text", str(tmp_path / "text"), *common])
    _assert_error(rc, err, "text:2", "UTF-8")
    (tmp_path / "text").write_text("u1\nu2 \n")
    rc, err, _ = _cli(caplog, "make_token_list", ["--text", str(tmp_path / "text"), *common])
    _assert_error(rc, err, "no non-empty transcripts")
    (tmp_path / "text").write_text("u1 hello\n")
    rc, err, _ = _cli(caplog, "make_token_list", ["--text", str(tmp_path / "text"), "--unit_info",
                                                  str(tmp_path / "no_info.json"), *common[2:]])
    _assert_error(rc, err, "no_info.json not found", "stage 5")


def _corpus_argv(units, tokens, unit_file, text_file, out):
    return ["--units", str(unit_file), "--unit_info", str(units / "units/unit_info.json"), "--text", str(text_file),
            "--bpe_model", str(tokens / "bpe/bpe.model"), "--out", str(out)]


def test_build_corpus_counts_mismatched_and_empty_utterances(units, tokens, tmp_path, caplog):
    (tmp_path / "units").write_text("u1 0 1 2\nu2 3 3\nu3 1\nu4 2 2\n")
    (tmp_path / "text").write_text("u1 hello world\nu2 \nu4 the cat\nu5 only text\n")
    rc, err, log = _cli(caplog, "build_corpus", _corpus_argv(units, tokens, tmp_path / "units", tmp_path / "text",
                                                             tmp_path / "seqs"))
    assert rc == 0, err
    m = re.search(r"(\d+) utterances in, (\d+) used, (\d+) skipped \(([^)]*)\)", log)
    assert m, log
    n_in, used, skipped = map(int, m.groups()[:3])
    assert (n_in, used, skipped) == (5, 2, 3) and n_in == used + skipped
    reasons = m.group(4)
    assert "1 empty transcript" in reasons and "1 in text but not in units" in reasons
    assert "1 in units but not in text" in reasons
    for utt in ("u2", "u3", "u5"):
        assert f"{utt}:" in log  # each skip is logged by utterance id
    ids = {line.split()[0].split("_", 1)[1] for line in (tmp_path / "seqs").read_text().splitlines()}
    assert ids == {"u1", "u4"}


@pytest.mark.parametrize("case", ["unit_out_of_range", "non_integer_unit", "non_utf8_text"])
def test_build_corpus_bad_values_name_the_utterance(units, tokens, tmp_path, caplog, case):
    (tmp_path / "units").write_text({"unit_out_of_range": "u1 0 1\nu2 1 99\n",
                                     "non_integer_unit": "u1 0 1\nu2 1 x\n"}.get(case, "u1 0 1\nu2 1 2\n"))
    if case == "non_utf8_text":
        (tmp_path / "text").write_bytes(b"u1 hello\nu2 caf\xe9\n")
    else:
        (tmp_path / "text").write_text("u1 hello\nu2 world\n")
    rc, err, _ = _cli(caplog, "build_corpus", _corpus_argv(units, tokens, tmp_path / "units", tmp_path / "text",
                                                           tmp_path / "seqs"))
    expect = {"unit_out_of_range": ["u2", "99", "outside [0, 4)"], "non_integer_unit": ["u2", "non-integer"],
              "non_utf8_text": ["text:2", "UTF-8"]}[case]
    _assert_error(rc, err, *expect)


def _interleave_argv(units, tokens, d, *extra):
    return ["--units", str(d / "units"), "--unit_info", str(units / "units/unit_info.json"),
            "--word_ctm", str(d / "ctm"), "--text", str(d / "text"), "--bpe_model", str(tokens / "bpe/bpe.model"),
            "--out", str(d / "seqs"), *extra]


def _interleave_inputs(d, unit_line="u1 0 0 1 1 2 2 3 3 0 0 1 1 2 2 3 3 0 0 1 1"):
    (d / "units").write_text(f"{unit_line}\nu2 0 1 2 3 0 1\n")
    (d / "text").write_text("u1 hello world\nu2 the cat\nu3 yes\n")  # u2: no timings, u3: no units
    (d / "ctm").write_text("u1 hello 0.0 0.15\nu1 world 0.2 0.38\nu3 yes 0.0 0.1\n")


def test_build_interleaved_mismatches(units, tokens, tmp_path, caplog, capsys):
    _interleave_inputs(tmp_path)
    rc, err, _ = _cli(caplog, "build_interleaved", _interleave_argv(units, tokens, tmp_path))
    _assert_error(rc, err, "u2", "ctm")  # default: timing problems stop the run, naming the utterance
    rc, err, log = _cli(caplog, "build_interleaved",
                        _interleave_argv(units, tokens, tmp_path, "--on_timing_error", "skip"))
    assert rc == 0, err
    log += capsys.readouterr().out  # its summary lines are printed
    m = re.search(r"(\d+) in, (\d+) written, (\d+) skipped \(([^)]*)\)", log)
    assert m, log
    n_in, written, skipped = map(int, m.groups()[:3])
    assert (n_in, written, skipped) == (3, 1, 2)
    assert sum(int(n) for n in re.findall(r"(\d+) [a-z]", m.group(4))) == skipped
    assert [ln.split()[0] for ln in (tmp_path / "seqs").read_text().splitlines()] == ["inter_u1"]


def test_build_interleaved_unit_out_of_range(units, tokens, tmp_path, caplog):
    _interleave_inputs(tmp_path, unit_line="u1 0 0 1 1 2 2 3 3 0 0 1 1 2 2 3 3 0 0 1 9")
    rc, err, _ = _cli(caplog, "build_interleaved",
                      _interleave_argv(units, tokens, tmp_path, "--on_timing_error", "skip"))
    _assert_error(rc, err, "u1", "outside [0, 4)")


def test_learn_kmeans_more_clusters_than_frames(units, tmp_path, caplog):
    rc, err, _ = _cli(caplog, "learn_kmeans", ["--feats_dir", str(units / "feats"), "--n_clusters", "100000",
                                               "--out_dir", str(tmp_path / "km")])
    _assert_error(rc, err, "100000 clusters", "feats")


def test_dump_units_refuses_a_codebook_of_another_feature_space(units, tmp_path, caplog):
    import json

    km = tmp_path / "km"
    shutil.copytree(units / "km", km)
    info = json.loads((km / "km_info.json").read_text())
    info["dim"] += 1
    (km / "km_info.json").write_text(json.dumps(info))
    argv = ["--feats_dir", str(units / "feats"), "--km_dir", str(km), "--out_dir", str(tmp_path / "u")]
    rc, err, _ = _cli(caplog, "dump_units", argv)  # the completion marker notices the edit first
    _assert_error(rc, err, str(km / "km_info.json"), "changed after the stage finished", "learn_kmeans")
    (km / ".done.json").unlink()  # a hand-made codebook: the feature-space check still holds
    rc, err, _ = _cli(caplog, "dump_units", argv)
    _assert_error(rc, err, f"dim={info['dim'] - 1}", f"{km} was learned on dim={info['dim']}")


@pytest.fixture
def tiny_model(tmp_path):
    """config.yaml + model file of an untrained token_lm, as stage 10 reads them."""
    import argparse

    import torch

    from lst.tasks.lst import LSTTask
    from lst.vocab import build_token_list

    tl = build_token_list(["<unk>", "▁a", "▁b"], n_units=4)
    cfg = {"token_list": tl, "model": "token_lm", "model_conf": {"d_model": 8, "n_layers": 1, "n_heads": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    torch.save(LSTTask.build_model(argparse.Namespace(**cfg)).state_dict(), tmp_path / "model.pth")
    (tmp_path / "seqs").write_text("s2t_u1 <s> 1 2 <t> ▁a\ns2t_u2 <s> 1 7 <t> ▁b\n", encoding="utf-8")
    return tmp_path


def test_evaluate_unit_out_of_range_names_file_and_sequence(tiny_model, caplog):
    d = tiny_model
    rc, err, _ = _cli(caplog, "evaluate", ["--config", str(d / "config.yaml"), "--model_file", str(d / "model.pth"),
                                           "--data", f"valid={d / 'seqs'}", "--results", str(d / "R.md")])
    _assert_error(rc, err, str(d / "seqs"), "s2t_u2", "unit id 7")


def test_evaluate_truncated_model_file_is_one_line_error(tiny_model, caplog):
    d = tiny_model
    data = (d / "model.pth").read_bytes()
    (d / "trunc.pth").write_bytes(data[: len(data) // 2])
    rc, err, _ = _cli(caplog, "evaluate", ["--config", str(d / "config.yaml"), "--model_file", str(d / "trunc.pth"),
                                           "--data", f"valid={d / 'seqs'}", "--results", str(d / "R.md")])
    _assert_error(rc, err, "trunc.pth")


def test_training_data_with_out_of_range_unit_names_the_sequence(tiny_token_list):
    from lst.data.batch import SequencePreprocessor
    from lst.data.sequence_format import SequenceFormatError

    with pytest.raises(SequenceFormatError, match="seq_7: unit id 10"):
        SequencePreprocessor(tiny_token_list)("seq_7", {"seq": "<s> 1 10"})


# ---- training config ---------------------------------------------------------------------


def test_model_conf_typo_names_the_key():
    from lst.models.lst_model import LSTModel
    from lst.models.token_lm import TokenLM
    from lst.train.config_check import ConfigError, check_model_conf

    with pytest.raises(ConfigError, match=r"unknown key 'd_modle' for --model token_lm \(did you mean 'd_model'\?\)"):
        check_model_conf("token_lm", TokenLM, {"d_modle": 8})
    with pytest.raises(ConfigError, match="'vocab_size' is set by the task"):
        check_model_conf("token_lm", TokenLM, {"vocab_size": 8})
    check_model_conf("token_lm", TokenLM, {"d_model": 8, "n_layers": 1})
    check_model_conf("lst", LSTModel, {"d_model": 8, "patch_size": 2})
    with pytest.raises(ConfigError, match="'patch_szie'.*did you mean 'patch_size'"):
        check_model_conf("lst", LSTModel, {"patch_szie": 2})


def test_model_conf_typo_through_the_task(tiny_token_list):
    """LSTTask.build_model must report the key, not a raw TypeError from the constructor."""
    import argparse

    from lst.tasks.lst import LSTTask

    args = argparse.Namespace(token_list=list(tiny_token_list), model="token_lm", model_conf={"d_modle": 8})
    with pytest.raises(ValueError, match="unknown key 'd_modle'.*did you mean 'd_model'"):
        LSTTask.build_model(args)


def test_top_level_config_typo_is_rejected_by_espnet(tmp_path, capsys):
    from lst.tasks.lst import LSTTask

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"batch_szie": 4}))
    with pytest.raises(SystemExit):
        LSTTask.get_parser().parse_args(["--config", str(tmp_path / "c.yaml"), "--token_list", "x"])
    assert "unrecognized arguments: batch_szie" in capsys.readouterr().err


# ---- a stage started before its inputs exist ---------------------------------------------


def test_stage_before_its_inputs_names_the_stage(tmp_path):
    recipe = tmp_path / "lst1"
    src = REPO / "egs/mini_an4/lst1"
    recipe.mkdir()
    for name in ("run.sh", "conf", "local"):
        (shutil.copytree if (src / name).is_dir() else shutil.copy)(src / name, recipe / name)
    for name in ("lst.sh", "path.sh", "utils"):  # the TEMPLATE files the recipe links to
        os.symlink(REPO / "egs/TEMPLATE/lst1" / name, recipe / name)
    p = subprocess.run(["bash", "run.sh", "--stage", "7", "--stop_stage", "7"], cwd=recipe, capture_output=True,
                       text=True, env={**os.environ, "LST_ROOT": str(REPO)}, timeout=900)
    assert p.returncode != 0
    errors = [ln for ln in (p.stdout + p.stderr).splitlines() if "Error" in ln]
    assert len(errors) == 1, p.stdout + p.stderr
    assert "bpe.model not found" in errors[0] and "stage 6" in errors[0] and "--stage 6" in errors[0]
    assert not (recipe / "corpus").exists()  # nothing half-made


# ---- idempotency ---------------------------------------------------------------------------


def _tree_bytes(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerunning_finished_stages_is_byte_identical(audio, formatted, units, tokens, tmp_path):
    from lst.bin import build_corpus, dump_features, dump_units, format_wav

    raw, _ = formatted
    # format_wav: re-run into the same out_dir
    before = _tree_bytes(raw)
    format_wav.main(["--wav_scp", str(audio / "data/wav.scp"), "--out_dir", str(raw)])
    assert _tree_bytes(raw) == before
    # dump_features and dump_units: re-run into the same dirs
    for tool, argv, out in [
        (dump_features, ["--wav_scp", str(raw / "wav.scp"), "--out_dir", str(units / "feats")], units / "feats"),
        (dump_units, ["--feats_dir", str(units / "feats"), "--km_dir", str(units / "km"),
                      "--out_dir", str(units / "units")], units / "units"),
    ]:
        before = _tree_bytes(out)
        tool.main(argv)
        assert _tree_bytes(out) == before, tool.__name__
    # make_token_list: token list and BPE vocabulary (bpe.model: see the test below)
    before = _tree_bytes(tokens)
    _rerun_make_token_list(raw, units, tokens)
    after = _tree_bytes(tokens)
    for name in ("tokens.txt", "bpe/bpe.vocab"):
        assert after[name] == before[name], name
    # build_corpus twice
    argv = _corpus_argv(units, tokens, units / "units/units", raw / "text", tmp_path / "a/seqs")
    assert build_corpus.main(argv) == 0
    assert build_corpus.main(argv[:-1] + [str(tmp_path / "b/seqs")]) == 0
    assert filecmp.cmp(tmp_path / "a/seqs", tmp_path / "b/seqs", shallow=False)
    assert (tmp_path / "a/seqs").read_text().count("\n") == 4 * 6  # 6 utterances x 4 kinds


def _rerun_make_token_list(raw, units, tokens):
    from lst.bin import make_token_list

    assert make_token_list.main(["--text", str(raw / "text"), "--unit_info", str(units / "units/unit_info.json"),
                                 "--nbpe", "30", "--bpe_prefix", str(tokens / "bpe/bpe"),
                                 "--token_list", str(tokens / "tokens.txt")]) == 0


def test_rerunning_make_token_list_gives_identical_bpe_model(formatted, units, tokens):
    raw, _ = formatted
    before = (tokens / "bpe/bpe.model").read_bytes()
    _rerun_make_token_list(raw, units, tokens)
    assert (tokens / "bpe/bpe.model").read_bytes() == before


# ---- issue 16: ids that collide after sanitising ------------------------------------------


def test_format_wav_ids_that_would_collide_keep_their_own_audio(audio, tmp_path, caplog):
    """``a/b`` and ``a_b`` used to share raw/wav/a_b.wav: a/b silently got a_b's audio."""
    d = tmp_path / "data"
    d.mkdir()
    w = audio / "wav"
    (d / "wav.scp").write_text(f"a/b {w / 'a_good1.wav'}\na_b {w / 'a_good2.wav'}\na%2Fb {w / 'a_good3.wav'}\n")
    rc, err, log = _cli(caplog, "format_wav", ["--wav_scp", str(d / "wav.scp"), "--out_dir", str(tmp_path / "o")])
    assert rc == 0, err
    scp = dict(line.split(" ", 1) for line in (tmp_path / "o/wav.scp").read_text().splitlines())
    assert len(set(scp.values())) == 3  # injective
    for utt, src in (("a/b", "a_good1"), ("a_b", "a_good2"), ("a%2Fb", "a_good3")):
        got, _ = sf.read(scp[utt])
        want, _ = sf.read(w / f"{src}.wav")
        assert len(got) == len(want), utt  # each id has its own audio


def test_utt_file_name_is_injective_and_bounded():
    from lst.data.kaldi_dir import utt_file_name

    ids = ["a/b", "a_b", "a%2Fb", "a%b", "a%252Fb", ".", "..", "x" * 300, "x" * 299 + "y", "spk/utt/1"]
    names = [utt_file_name(u) for u in ids]
    assert len(set(names)) == len(ids)
    assert all("/" not in n and n not in (".", "..") and len(n.encode()) <= 200 for n in names)


# ---- issue 16: degenerate model configs ------------------------------------------------------


@pytest.mark.parametrize("model,conf,names", [
    ("token_lm", {"d_model": 0}, ["d_model: 0", ">= 1"]),
    ("token_lm", {"n_layers": 0}, ["n_layers: 0", ">= 1"]),
    ("token_lm", {"n_heads": 0}, ["n_heads: 0"]),
    ("token_lm", {"max_len": 0}, ["max_len: 0"]),
    ("token_lm", {"d_model": 10, "n_heads": 4}, ["d_model: 10", "n_heads: 4", "divisible"]),
    ("token_lm", {"dropout": 1.0}, ["dropout: 1.0", "[0.0, 1.0)"]),
    ("token_lm", {"d_model": "8"}, ["d_model: '8'"]),
    ("lst", {"patch_vectors": 0}, ["patch_vectors: 0"]),
    ("lst", {"window": 0}, ["window: 0"]),
    ("lst", {"decoder_window": 0}, ["decoder_window: 0"]),
    ("lst", {"patch_size": 0}, ["patch_size: 0"]),
    ("lst", {"local_d_model": 12, "local_heads": 4}, ["local_d_model: 12", "local_heads: 4"]),
    ("lst", {"d_model": 24, "n_heads": 4, "local_heads": 5}, ["cannot build --model lst", "local_heads"]),
    ("lst", {"patching": "nonsense"}, ["patching", "nonsense"]),
])
def test_degenerate_model_conf_is_one_line_naming_key_value_range(tiny_token_list, model, conf, names):
    import argparse

    from lst.tasks.lst import LSTTask
    from lst.train.config_check import ConfigError

    with pytest.raises(ConfigError) as e:
        LSTTask.build_model(argparse.Namespace(token_list=list(tiny_token_list), model=model, model_conf=conf))
    msg = str(e.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg


def test_valid_model_confs_still_build(tiny_token_list):
    import argparse

    from lst.tasks.lst import LSTTask

    for model, conf in (("token_lm", {"d_model": 8, "n_layers": 1, "n_heads": 2}),
                        ("lst", {"d_model": 16, "n_layers": 1, "n_heads": 2, "local_d_model": 8, "local_heads": 2,
                                 "window": 4, "patch_size": 2, "max_patch_len": 4})):
        LSTTask.build_model(argparse.Namespace(token_list=list(tiny_token_list), model=model, model_conf=conf))


def test_max_len_shorter_than_the_data_names_the_sequence(tmp_path):
    """Shape files (collect-stats) longer than the token baseline's positions: one line naming the
    longest sequence, unless --max_seq_len cuts them (the data layer may also cut to max_len)."""
    from lst.train.config_check import ConfigError, check_lengths

    (tmp_path / "seq_shape").write_text("s2t_a 9\nspeech_b 41\ntext_c 5\n")
    with pytest.raises(ConfigError) as e:
        check_lengths("token_lm", {"max_len": 32}, [tmp_path / "seq_shape"])
    msg = str(e.value)
    assert "max_len: 32 is shorter than sequence speech_b (41 tokens" in msg and "--max_seq_len <= 33" in msg
    check_lengths("token_lm", {"max_len": 32}, [tmp_path / "seq_shape"], max_seq_len=33)
    check_lengths("token_lm", {"max_len": 40}, [tmp_path / "seq_shape"])
    check_lengths("token_lm", {}, [tmp_path / "seq_shape"], default_max_len=2048)


def test_max_len_exceeded_in_training_is_one_line(tmp_path, monkeypatch):
    """The data layer cuts sequences to the model's max_len; should a sequence still reach a
    model longer than it allows (an LST global or local length), lst_train says so in one line."""
    from lst.bin.lst_train import main
    from lst.tasks.lst import LSTTask
    from lst.tasks.toy import write_toy_experiment

    argv = write_toy_experiment(tmp_path, n_train=8, n_valid=4, max_epoch=1, batch_size=4, d_model=8)

    def too_long(cmd=None):
        raise ValueError("sequence length 50 exceeds max_len 3")

    monkeypatch.setattr(LSTTask, "main", too_long)
    with pytest.raises(SystemExit) as e:
        main([*argv, "--output_dir", str(tmp_path / "exp")])
    msg = str(e.value.code)
    assert msg.startswith("lst_train: a training sequence is longer than the model allows (sequence length 50 "
                          "exceeds max_len 3)") and "\n" not in msg


def test_empty_training_corpus_is_one_line(tmp_path):
    from lst.bin.lst_train import main
    from lst.tasks.toy import write_toy_experiment

    argv = write_toy_experiment(tmp_path, n_train=8, n_valid=4, max_epoch=1, batch_size=4, d_model=8)
    (tmp_path / "train").write_text("")
    with pytest.raises(SystemExit) as e:
        main([*argv, "--output_dir", str(tmp_path / "exp")])
    assert str(e.value.code) == f"lst_train: train data {tmp_path}/train is empty (no sequences); rerun stage 7 " \
                                "(corpus build) and check its log for skipped utterances"


# ---- issue 16: a full disk while writing ----------------------------------------------------


def test_enospc_while_writing_is_one_line_and_keeps_the_old_output(formatted, units, tmp_path, monkeypatch):
    """The real command line, with the writer failing as on a full disk."""
    script = ("import errno, sys, lst.bin.dump_units as D\n"
              "def full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device')\n"
              "D.format_ints = full\nfrom lst.units.io import run_tool\nrun_tool(D.main, sys.argv[1:])\n")
    out = tmp_path / "u"
    shutil.copytree(units / "units", out)
    before = _tree_bytes(out)
    p = subprocess.run([sys.executable, "-c", script, "--feats_dir", str(units / "feats"), "--km_dir",
                        str(units / "km"), "--out_dir", str(out)], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and "flash" not in ln.lower()
             and " INFO: " not in ln and " WARNING: " not in ln]
    assert len(lines) == 1 and "disk full (ENOSPC)" in lines[0] and str(out) in lines[0], p.stderr
    assert _tree_bytes(out) == before
