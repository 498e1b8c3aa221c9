"""Inference tools finish the batch (issue 16, items 3 and 6).

A model with a short ``max_len`` meets an utterance longer than it: ``asr_inference``,
``tts_inference``, ``story_eval`` and ``evaluate`` must report that item (id + reason), finish
the others, write their info files, and exit non-zero only when nothing was produced. Damaged
packages and checkpoints give one line naming the file.
"""
import argparse
import json
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from test_pack import make_pretrained

MAX_LEN = 48


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    """A tiny token_lm with max_len 48, packed; plus its config.yaml/model.pth."""
    from lst.bin.pack_model import main as pack_main
    from lst.tasks.lst import LSTTask

    d = tmp_path_factory.mktemp("short")
    src = make_pretrained(d, "token_lm")
    cfg = yaml.safe_load(Path(src["config"]).read_text())
    cfg["model_conf"]["max_len"] = MAX_LEN
    Path(src["config"]).write_text(yaml.safe_dump(cfg, allow_unicode=True))
    torch.manual_seed(0)
    torch.save(LSTTask.build_model(argparse.Namespace(**cfg)).state_dict(), src["model_file"])
    packed = d / "packed.zip"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(packed)]) == 0
    return d, src, packed


def _errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_asr_inference_reports_long_and_bad_items_and_finishes(short_model, tmp_path, caplog):
    from lst.bin.asr_inference import main

    _, _, packed = short_model
    units = tmp_path / "units"
    units.write_text("a_ok 1 2 3 4 5\nb_long " + " ".join(["3"] * 200) + "\nc_bad 1 99 2\nd_ok 5 4 3\n")
    rc = main(["--model", str(packed), "--units", str(units), "--output_dir", str(tmp_path / "out"),
               "--max_len", "4"])
    assert rc == 0
    info = json.loads((tmp_path / "out/decode_info.json").read_text())
    assert set(info["utts"]) == {"a_ok", "d_ok"} and info["summary"]["n_failed"] == 2
    assert "200 units" in info["failed"]["b_long"] and "max_len" in info["failed"]["b_long"]
    assert "[99] outside [0, 10)" in info["failed"]["c_bad"]
    assert [ln.split()[0] for ln in (tmp_path / "out/text").read_text().splitlines()] == ["a_ok", "d_ok"]
    assert f"{units}: c_bad: unit ids [99]" in caplog.text


def test_asr_inference_nothing_decoded_is_rc1_with_info(short_model, tmp_path, caplog):
    from lst.bin.asr_inference import main

    _, _, packed = short_model
    units = tmp_path / "units"
    units.write_text("b_long " + " ".join(["3"] * 200) + "\n")
    assert main(["--model", str(packed), "--units", str(units), "--output_dir", str(tmp_path / "out")]) == 1
    assert json.loads((tmp_path / "out/decode_info.json").read_text())["failed"]["b_long"]
    assert "none of 1 utterances was decoded; first: b_long" in _errors(caplog)[-1]


def test_tts_inference_reports_a_long_text_and_escapes_ids(short_model, tmp_path):
    from lst.bin.tts_inference import main

    _, _, packed = short_model
    text = tmp_path / "text"
    text.write_text("a/b THE CAT\na_b YES NO\nc_long " + " ".join(["ELEVEN TWENTY SEVEN"] * 30) + "\nd_empty\n")
    rc = main(["--model", str(packed), "--text", str(text), "--output_dir", str(tmp_path / "out"),
               "--max_units", "20"])
    assert rc == 0
    info = json.loads((tmp_path / "out/decode_info.json").read_text())
    assert set(info["utts"]) == {"a/b", "a_b"}
    assert "max_len" in info["failed"]["c_long"] and info["failed"]["d_empty"] == "empty transcript"
    assert [ln.split()[0] for ln in (tmp_path / "out/units").read_text().splitlines()] == ["a/b", "a_b"]


def _story(path, items):
    path.write_text("".join(json.dumps(dict(id=i, form="cloze", mode="S->S", context=c,
                                            endings=["<s> 1 2", "<s> 3 4"], label=0)) + "\n"
                            for i, c in items))


def test_story_eval_skips_an_item_longer_than_max_len(short_model, tmp_path, caplog, capsys):
    from lst.bin.story_eval import main

    _, src, _ = short_model
    bench = tmp_path / "bench.jsonl"
    _story(bench, [("ok1", "<s> 1 2 3"), ("long", "<s> " + " ".join(["5"] * 100)), ("ok2", "<s> 4 4")])
    rc = main(["--config", src["config"], "--model_file", src["model_file"], "--benchmark", str(bench),
               "--out", str(tmp_path / "r.json")])
    assert rc == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["n_items"] == 2 and [s["id"] for s in r["skipped"]] == ["long"]
    assert "max_len" in r["skipped"][0]["reason"]
    _story(bench, [("long", "<s> " + " ".join(["5"] * 100))])
    assert main(["--config", src["config"], "--model_file", src["model_file"], "--benchmark", str(bench)]) == 1
    assert "none of 1 items could be scored; first: long" in _errors(caplog)[-1]


def test_story_eval_truncated_checkpoint_is_one_line(short_model, tmp_path, caplog):
    from lst.bin.story_eval import main

    _, src, _ = short_model
    data = Path(src["model_file"]).read_bytes()
    (tmp_path / "t.pth").write_bytes(data[: len(data) // 3])
    bench = tmp_path / "bench.jsonl"
    _story(bench, [("ok1", "<s> 1 2 3")])
    assert main(["--config", src["config"], "--model_file", str(tmp_path / "t.pth"), "--benchmark", str(bench)]) == 1
    err = _errors(caplog)[-1]
    assert "t.pth" in err and "\n" not in err


def test_evaluate_skips_a_sequence_longer_than_max_len(short_model, tmp_path, caplog):
    from lst.bin.evaluate import main

    _, src, _ = short_model
    seqs = tmp_path / "seqs"
    seqs.write_text("s2t_a <s> 1 2 <t> ▁THE\nspeech_long <s> " + " ".join(["4"] * 100) + "\n")
    rc = main(["--config", src["config"], "--model_file", src["model_file"], "--data", f"valid={seqs}",
               "--results", str(tmp_path / "R.md"), "--results_json", str(tmp_path / "R.json")])
    assert rc == 0
    text = (tmp_path / "R.md").read_text()
    assert "| valid | s2t | 1 |" in text and "1 sequences could not be scored" in text and "speech_long" in text
    (row,) = json.loads((tmp_path / "R.json").read_text())  # the table's one row, NLLs as in the table
    # predicted after <s>: the units 1 2, then <t>, ▁THE and the end markers (4 text positions)
    assert (row["set"], row["kind"], row["sequences"], row["speech_units"]) == ("valid", "s2t", 1, 2)
    assert row["text_tokens"] == 4 and f"| {row['text_nll']:.3f} | {row['speech_nll']:.3f} |" in text
    (tmp_path / "empty").write_text("")
    assert main(["--config", src["config"], "--model_file", src["model_file"], "--data",
                 f"valid={tmp_path / 'empty'}", "--results", str(tmp_path / "R2.md")]) == 1
    assert "empty corpus" in _errors(caplog)[-1]


# ---- damaged packages: one line naming the file --------------------------------------------


def _damage(packed: Path, tmp_path: Path, how: str) -> Path:
    out = tmp_path / f"{how}.zip"
    data = packed.read_bytes()
    if how == "empty":
        out.write_bytes(b"")
    elif how == "truncated":
        out.write_bytes(data[: len(data) // 2])
    elif how == "not_a_zip":
        out.write_bytes(b"this is not an archive\n" * 10)
    else:
        with zipfile.ZipFile(packed) as z:
            members = {n: z.read(n) for n in z.namelist()}
        meta = json.loads(members["meta.json"])
        if how == "bad_meta_json":
            members["meta.json"] = b"{not json"
        elif how == "meta_without_files":
            members["meta.json"] = json.dumps({"format_version": 1}).encode()
        elif how == "corrupt_model_matching_checksum":
            import hashlib

            members["model.pth"] = members["model.pth"][:200] + b"\0" * 50 + members["model.pth"][250:]
            meta["files"]["model.pth"] = hashlib.sha256(members["model.pth"]).hexdigest()
            members["meta.json"] = json.dumps(meta).encode()
        elif how == "garbage_model_matching_checksum":
            import hashlib

            members["model.pth"] = b"garbage" * 100
            meta["files"]["model.pth"] = hashlib.sha256(members["model.pth"]).hexdigest()
            members["meta.json"] = json.dumps(meta).encode()
        with zipfile.ZipFile(out, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    return out


@pytest.mark.parametrize("how", ["empty", "truncated", "not_a_zip", "bad_meta_json", "meta_without_files",
                                 "corrupt_model_matching_checksum", "garbage_model_matching_checksum"])
def test_damaged_package_is_one_line_error(short_model, tmp_path, caplog, how):
    from lst.bin.asr_inference import main

    _, _, packed = short_model
    bad = _damage(packed, tmp_path, how)
    (tmp_path / "units").write_text("a 1 2 3\n")
    rc = main(["--model", str(bad), "--units", str(tmp_path / "units"), "--output_dir", str(tmp_path / "o")])
    assert rc == 1
    err = _errors(caplog)[-1]
    assert str(bad) in err and "\n" not in err, err
    expect = {"empty": "empty file", "truncated": "not a complete zip archive", "not_a_zip": "not a complete zip",
              "bad_meta_json": "meta.json is not valid JSON", "meta_without_files": "no 'files' map",
              "corrupt_model_matching_checksum": "model.pth", "garbage_model_matching_checksum": "model.pth"}[how]
    assert expect in err, err


def test_asr_inference_refuses_units_from_another_codebook(short_model, tmp_path, caplog):
    """pack_model records the k-means lineage; units dumped with another codebook are refused."""
    from lst.bin.asr_inference import main
    from lst.bin.pack_model import main as pack_main
    from lst.stage_io import fingerprint, marker_dict, tree_files, write_file_marker, write_json_atomic

    d, src, _ = short_model
    km = Path(src["km_dir"])
    write_json_atomic(km / ".done.json", marker_dict("learn_kmeans", km, tree_files(km)))
    try:
        packed = tmp_path / "p.zip"
        assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model",
                          src["bpe_model"], "--km_dir", src["km_dir"], "--unit_info", src["unit_info"],
                          "--out", str(packed)]) == 0
    finally:
        (km / ".done.json").unlink()
    with zipfile.ZipFile(packed) as z:
        assert json.loads(z.read("meta.json"))["lineage"] == {"learn_kmeans": fingerprint(km)}
    for name, lineage, rc in (("same", {"learn_kmeans": fingerprint(km)}, 0), ("other", {"learn_kmeans": "x"}, 1)):
        u = tmp_path / name
        u.mkdir()
        (u / "units").write_text("a 1 2 3\n")
        write_file_marker(u, "dump_units", [u / "units"], lineage=lineage)
        assert main(["--model", str(packed), "--units", str(u / "units"), "--output_dir", str(tmp_path / f"o{name}"),
                     "--max_len", "2"]) == rc
    assert "was dumped with another learn_kmeans output" in _errors(caplog)[-1]


def test_missing_reference_files_are_one_line(short_model, tmp_path, caplog):
    from lst.bin.asr_inference import main as asr
    from lst.bin.tts_inference import main as tts

    _, _, packed = short_model
    (tmp_path / "units").write_text("a 1 2 3\n")
    assert asr(["--model", str(packed), "--units", str(tmp_path / "units"), "--output_dir", str(tmp_path / "o"),
                "--max_len", "2", "--ref_text", str(tmp_path / "no_text")]) == 1
    assert "--ref_text" in _errors(caplog)[-1] and "no_text not found" in _errors(caplog)[-1]
    (tmp_path / "text").write_text("a THE CAT\n")
    assert tts(["--model", str(packed), "--text", str(tmp_path / "text"), "--output_dir", str(tmp_path / "t"),
                "--max_units", "5", "--ref_units", str(tmp_path / "no_units")]) == 1
    assert "no_units not found" in _errors(caplog)[-1]
