"""Stage outputs are complete or absent (issue 16, item 2).

Each stage tool writes its directory under a temporary name and swaps it into place with a
completion marker (lst/stage_io.py). These tests reproduce the failures of the issue: a full
disk (ENOSPC, simulated by an OSError from the writer) and a process killed with SIGKILL in
the middle of writing; after either, the previous complete output is still there, unchanged,
and its marker still checks; the next stage refuses an output that changed after its marker.
"""
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lst.stage_io import MARKER, StageError, check_stage, fingerprint, staged_dir
REPO = Path(__file__).resolve().parents[1]


def subprocess_env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _tree(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _partials(root: Path):
    return sorted(p.name for p in root.parent.glob(f".{root.name}.partial-*"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A complete run of stages 2-5 on six short tones."""
    from lst.bin import dump_features, dump_units, format_wav, learn_kmeans

    root = tmp_path_factory.mktemp("stages")
    (root / "wav").mkdir()
    rng = np.random.default_rng(0)
    utts = [f"u{i}" for i in range(6)]
    for i, u in enumerate(utts):
        t = np.arange(int(16000 * (0.4 + 0.1 * i))) / 16000
        sf.write(root / "wav" / f"{u}.wav", 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)
                 + 0.02 * rng.standard_normal(len(t)), 16000, subtype="PCM_16")
    (root / "data").mkdir()
    (root / "data/wav.scp").write_text("".join(f"{u} {root}/wav/{u}.wav\n" for u in utts))
    (root / "data/text").write_text("".join(f"{u} hello world {i}\n" for i, u in enumerate(utts)))
    format_wav.main(["--wav_scp", str(root / "data/wav.scp"), "--out_dir", str(root / "raw")])
    dump_features.main(["--wav_scp", str(root / "raw/wav.scp"), "--out_dir", str(root / "feats")])
    learn_kmeans.main(["--feats_dir", str(root / "feats"), "--n_clusters", "4", "--out_dir", str(root / "km")])
    dump_units.main(["--feats_dir", str(root / "feats"), "--km_dir", str(root / "km"),
                     "--out_dir", str(root / "units")])
    return root


def test_every_stage_writes_a_marker_with_counts_and_input_fingerprints(pipeline):
    for name, stage in (("raw", "format_wav"), ("feats", "dump_features"), ("km", "learn_kmeans"),
                        ("units", "dump_units")):
        marker = check_stage(pipeline / name, "test")
        assert marker["stage"] == stage and marker["inputs"], marker
        assert not _partials(pipeline / name)
    units = json.loads((pipeline / "units" / MARKER).read_text())
    assert units["counts"]["in"] == units["counts"]["written"] == 6
    assert units["inputs"] == {"feats": fingerprint(pipeline / "feats"), "km": fingerprint(pipeline / "km")}
    assert units["lineage"]["learn_kmeans"] == fingerprint(pipeline / "km")
    # scp paths name the final directory, not the temporary one
    assert all(".partial-" not in line for line in (pipeline / "feats/feats.scp").read_text().splitlines())
    assert all(".partial-" not in line for line in (pipeline / "raw/wav.scp").read_text().splitlines())


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device", "simulated")


@pytest.mark.parametrize("stage", ["format_wav", "dump_features", "learn_kmeans", "dump_units"])
def test_disk_full_mid_write_keeps_the_old_complete_output(pipeline, monkeypatch, stage):
    import importlib

    from lst.units.io import ToolError, run_tool

    mod = importlib.import_module(f"lst.bin.{stage}")
    out, argv = {
        "format_wav": ("raw", ["--wav_scp", str(pipeline / "data/wav.scp")]),
        "dump_features": ("feats", ["--wav_scp", str(pipeline / "raw/wav.scp")]),
        "learn_kmeans": ("km", ["--feats_dir", str(pipeline / "feats"), "--n_clusters", "4"]),
        "dump_units": ("units", ["--feats_dir", str(pipeline / "feats"), "--km_dir", str(pipeline / "km")]),
    }[stage]
    before = _tree(pipeline / out)
    calls = []

    def failing_writer(real):
        def wrapper(*a, **k):
            calls.append(1)
            if len(calls) == 2:  # after some output exists
                _enospc()
            return real(*a, **k)
        return wrapper

    target = {"format_wav": "write_kaldi_map", "dump_features": "write_kaldi_map", "learn_kmeans": "save_kmeans",
              "dump_units": "format_ints"}[stage]
    if stage == "learn_kmeans":
        monkeypatch.setattr(mod, target, lambda *a, **k: _enospc())
    else:
        monkeypatch.setattr(mod, target, failing_writer(getattr(mod, target)))
    with pytest.raises(SystemExit) as e:
        run_tool(mod.main, [*argv, "--out_dir", str(pipeline / out)])
    msg = str(e.value.code)
    assert "\n" not in msg and "disk full (ENOSPC)" in msg and str(pipeline / out) in msg, msg
    assert _tree(pipeline / out) == before  # the old output, byte for byte
    check_stage(pipeline / out, "test", verify_hash=True)
    assert not _partials(pipeline / out)
    del ToolError


KILL_MID_WRITE = """
import os, signal, sys
import lst.bin.dump_units as D
real, calls = D.format_ints, []
def dying(values):
    calls.append(1)
    if len(calls) == 7:  # 3 utterances written (units + durations), then SIGKILL
        os.kill(os.getpid(), signal.SIGKILL)
    return real(values)
D.format_ints = dying
D.main(sys.argv[1:])
"""


def test_killed_dump_units_leaves_the_old_output_and_the_next_run_cleans_up(pipeline):
    out = pipeline / "units"
    before = _tree(out)
    argv = ["--feats_dir", str(pipeline / "feats"), "--km_dir", str(pipeline / "km"), "--out_dir", str(out),
            "--dedup", "true"]
    p = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, *argv], env=subprocess_env(), cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert _tree(out) == before  # old complete output, not 3 of 6 lines beside the old unit_info.json
    check_stage(out, "test", verify_hash=True)
    partial = _partials(out)
    assert len(partial) == 1  # the killed writer's temporary directory
    # the next run removes it and completes
    from lst.bin import dump_units

    dump_units.main(argv)
    assert not _partials(out)
    marker = check_stage(out, "test")
    assert marker["params"]["dedup"] is True and (out / "durations").is_file()
    dump_units.main(argv[:-2])  # back to the fixture's setting, for the other tests
    assert _tree(out) == before


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_next_stage_refuses_an_output_changed_after_its_marker(pipeline, tmp_path, damage):
    """A truncated units file (a copy made with cp that ran out of space, an edit) is refused."""
    import shutil

    from lst.bin import make_token_list

    units = tmp_path / "units"
    shutil.copytree(pipeline / "units", units)
    if damage == "truncate":
        data = (units / "units").read_bytes()
        (units / "units").write_bytes(data[: len(data) // 2])
    else:
        (units / "utt2num_frames").unlink()
    with pytest.raises(StageError, match="units"):
        check_stage(units, "dump_units")
    rc = make_token_list.main(["--text", str(pipeline / "raw/text"), "--unit_info", str(units / "unit_info.json"),
                               "--bpe_prefix", str(tmp_path / "bpe/bpe"), "--token_list", str(tmp_path / "t/tokens.txt"),
                               "--nbpe", "20"])
    assert rc == 1 and not (tmp_path / "t/tokens.txt").exists()


def test_make_token_list_marker_carries_the_kmeans_lineage(pipeline, tmp_path):
    from lst.bin import make_token_list

    assert make_token_list.main(["--text", str(pipeline / "raw/text"), "--unit_info",
                                 str(pipeline / "units/unit_info.json"), "--bpe_prefix", str(tmp_path / "bpe/bpe"),
                                 "--token_list", str(tmp_path / "tl/tokens.txt"), "--nbpe", "20"]) == 0
    a = check_stage(tmp_path / "tl", "make_token_list")
    b = check_stage(tmp_path / "bpe", "make_token_list")
    assert a["fingerprint"] == b["fingerprint"]
    assert a["lineage"]["learn_kmeans"] == fingerprint(pipeline / "km")
    assert a["lineage"]["make_token_list"] == a["fingerprint"]
    assert not list(tmp_path.rglob("*.partial*"))


def test_staged_dir_without_complete_leaves_nothing(tmp_path):
    with pytest.raises(StageError, match="without completing"):
        with staged_dir(tmp_path / "out", "x") as s:
            (s.path / "f").write_text("half")
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())


def test_stage_check_cli_for_recipes(pipeline, tmp_path):
    from lst.bin.check_stage import main

    assert main([str(pipeline / "units"), "--made_by", "stage 5"]) == 0
    (tmp_path / "hand").mkdir()
    assert main([str(tmp_path / "hand")]) == 0  # hand-made: accepted with a warning
    assert main([str(tmp_path / "hand"), "--require"]) == 1
    import shutil

    shutil.copytree(pipeline / "units", tmp_path / "u")
    with open(tmp_path / "u/units", "a") as f:
        f.write("extra 1 2 3\n")
    assert main([str(tmp_path / "u"), "--made_by", "stage 5"]) == 1


def test_make_token_list_disk_full_is_one_line_and_leaves_no_marker(pipeline, tmp_path, monkeypatch, caplog):
    from lst.bin import make_token_list

    argv = ["--text", str(pipeline / "raw/text"), "--unit_info", str(pipeline / "units/unit_info.json"),
            "--bpe_prefix", str(tmp_path / "bpe/bpe"), "--token_list", str(tmp_path / "tl/tokens.txt"), "--nbpe", "20"]
    assert make_token_list.main(argv) == 0
    before = (tmp_path / "tl/tokens.txt").read_bytes()
    real = make_token_list.atomic_write_file

    def full(path, *a, **k):
        if str(path).endswith("tokens.txt"):
            _enospc()
        return real(path, *a, **k)

    monkeypatch.setattr(make_token_list, "atomic_write_file", full)
    assert make_token_list.main(argv) == 1
    err = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"][-1]
    assert "disk full (ENOSPC)" in err and "tokens.txt" in err and "\n" not in err
    assert (tmp_path / "tl/tokens.txt").read_bytes() == before  # the old list, whole
    assert not (tmp_path / "tl" / MARKER).exists()  # but no longer marked complete
    assert not list((tmp_path / "tl").glob(".*partial*"))


def test_atomic_open_and_file_markers_carry_the_lineage(pipeline, tmp_path):
    from lst.stage_io import atomic_open, lineage_of, mark_file_outputs

    out = tmp_path / "corpus/train/seqs"
    with pytest.raises(RuntimeError):
        with atomic_open(out) as f:
            f.write("half a line")
            raise RuntimeError("killed")
    assert not out.exists() and not list(out.parent.iterdir())
    with atomic_open(out) as f:
        f.write("s2t_u1 <s> 1 2 <t> a\n")
    marker = mark_file_outputs("build_corpus", [out], {"units": pipeline / "units/units", "text": None},
                               counts={"sequences": 1})
    assert marker["lineage"]["learn_kmeans"] == fingerprint(pipeline / "km")
    assert lineage_of(out) == marker["lineage"] and check_stage(out.parent, "stage 7")
    with open(out, "a") as f:  # appended after the marker: refused downstream
        f.write("inter_u1 <t> a\n")
    with pytest.raises(StageError, match="seqs has"):
        check_stage(out.parent, "stage 7")


def test_refresh_marker_after_the_recipe_extends_a_corpus(pipeline, tmp_path):
    from lst.bin.check_stage import main
    from lst.stage_io import mark_file_outputs, read_marker

    out = tmp_path / "corpus/train/seqs"
    out.parent.mkdir(parents=True)
    out.write_text("s2t_u1 <s> 1 2 <t> a\n")
    first = mark_file_outputs("build_corpus", [out], {"units": pipeline / "units/units"})
    (out.parent / "seqs.inter").write_text("inter_u1 <t> a\n")
    with open(out, "a") as f:
        f.write("inter_u1 <t> a\n")
    assert main([str(out.parent)]) == 1  # changed after the marker
    assert main([str(out.parent), "--refresh", "--add", str(out.parent / "seqs.inter")]) == 0
    new = read_marker(out.parent)
    assert set(new["files"]) == {"seqs", "seqs.inter"} and new["lineage"] == first["lineage"]
    assert new["inputs"] == first["inputs"] and new["fingerprint"] != first["fingerprint"]


@pytest.fixture(scope="module")
def corpus_inputs(pipeline, tmp_path_factory):
    from lst.bin import make_token_list

    d = tmp_path_factory.mktemp("tokens")
    assert make_token_list.main(["--text", str(pipeline / "raw/text"), "--unit_info",
                                 str(pipeline / "units/unit_info.json"), "--bpe_prefix", str(d / "bpe/bpe"),
                                 "--token_list", str(d / "tl/tokens.txt"), "--nbpe", "20"]) == 0
    return d


def _corpus_argv(pipeline, units_dir, bpe, out):
    return ["--units", str(units_dir / "units"), "--unit_info", str(units_dir / "unit_info.json"),
            "--text", str(pipeline / "raw/text"), "--bpe_model", str(bpe), "--out", str(out)]


def test_build_corpus_refuses_units_truncated_by_a_killed_dump_units(pipeline, corpus_inputs, tmp_path, caplog):
    """The issue: a killed dump_units left 3,108 of 6,000 lines and build_corpus exited 0."""
    import shutil

    from lst.bin import build_corpus

    units = tmp_path / "units"
    shutil.copytree(pipeline / "units", units)
    argv = _corpus_argv(pipeline, units, corpus_inputs / "bpe/bpe.model", tmp_path / "c/seqs")
    assert build_corpus.main(argv) == 0
    marker = check_stage(tmp_path / "c", "stage 7")
    assert marker["stage"] == "build_corpus" and marker["counts"]["used"] == 6
    assert marker["lineage"]["learn_kmeans"] == fingerprint(pipeline / "km")
    assert marker["lineage"]["make_token_list"] == check_stage(corpus_inputs / "bpe", "x")["fingerprint"]
    lines = (units / "units").read_text().splitlines(keepends=True)
    (units / "units").write_text("".join(lines[:3]))
    assert build_corpus.main(argv) == 1
    err = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"][-1]
    assert f"{units / 'units'} has" in err and "dump_units" in err


def test_build_corpus_disk_full_keeps_the_old_corpus(pipeline, corpus_inputs, tmp_path, monkeypatch):
    from lst.bin import build_corpus

    out = tmp_path / "c/seqs"
    argv = _corpus_argv(pipeline, pipeline / "units", corpus_inputs / "bpe/bpe.model", out)
    assert build_corpus.main(argv) == 0
    before = out.read_bytes()
    real_open = open

    class Full:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, s):
            self.n += 1
            if self.n == 3:
                _enospc()
            return self.f.write(s)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return self.f.__exit__(*a)

    import builtins

    def opener(path, *a, **k):
        f = real_open(path, *a, **k)
        return Full(f) if ".partial-" in str(path) else f

    monkeypatch.setattr(builtins, "open", opener)
    with pytest.raises(OSError):
        build_corpus.main(argv)
    monkeypatch.undo()
    assert out.read_bytes() == before  # not a truncated last sequence that still parses
    assert not list(out.parent.glob(".*partial*"))
