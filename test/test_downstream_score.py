"""Scoring and RESULTS.md tables of the downstream recipes, against values worked out by hand."""
import argparse
import json

import pytest

from lst.downstream.results import asr_compare, asr_lm, tts
from lst.downstream.score import md_table, unit_error_rate, wer_cer


def test_wer_cer_hand_values():
    refs = {"u1": "the cat sat", "u2": "a dog"}
    hyps = {"u1": "THE  bat sat on"}  # u2 missing: counts as empty
    # words: u1 1 sub (cat->bat) + 1 ins (on); u2 2 del -> 4 errors / 5 words
    # chars: u1 "THE CAT SAT" -> "THE BAT SAT ON": 1 sub + 3 ins; u2 "A DOG": 5 del -> 9 / 16
    assert wer_cer(refs, hyps) == {"wer": 80.0, "cer": 56.25, "n_utts": 2, "n_words": 5, "sub": 1, "del": 2,
                                   "ins": 1, "missing": 1}
    perfect = wer_cer(refs, {"u1": "The Cat Sat", "u2": "a dog", "extra": "ignored"})
    assert perfect["wer"] == 0.0 and perfect["cer"] == 0.0 and perfect["missing"] == 0


def test_wer_paired_bootstrap_hand_values(tmp_path):
    from lst.bin.score_wer import main as score_wer
    from lst.downstream.score import wer_paired_bootstrap

    refs = {f"u{i}": "one two three four" for i in range(40)}
    good = dict(refs)
    one_off = {u: ("one two three five" if i % 2 else r) for i, (u, r) in enumerate(sorted(refs.items()))}
    # a: 20 of 40 utterances with 1 error in 4 words -> 12.5 % WER; b: none -> 0 %
    res = wer_paired_bootstrap(refs, one_off, good, n_boot=500)
    assert res["wer_a"] == 12.5 and res["wer_b"] == 0.0 and res["difference"] == 12.5
    low, high = res["ci95"]
    assert 0.0 < low < 12.5 < high < 25.0
    same = wer_paired_bootstrap(refs, one_off, one_off, n_boot=100)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0]
    # a missing hypothesis is all deletions in either system
    assert wer_paired_bootstrap({"x": "a b"}, {}, {"x": "a b"}, n_boot=10)["difference"] == 100.0
    # the command line: vs_baseline beside the usual score
    for name, hyps in (("ref", refs), ("a", one_off), ("b", good)):
        (tmp_path / name).write_text("".join(f"{u} {t}\n" for u, t in sorted(hyps.items())))
    score_wer(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "a"), "--baseline_hyp", str(tmp_path / "b"),
               "--n_boot", "500", "--out", str(tmp_path / "score.json")])
    out = json.loads((tmp_path / "score.json").read_text())
    assert out["wer"] == 12.5 and out["vs_baseline"]["difference"] == 12.5
    assert out["vs_baseline"]["ci95"] == res["ci95"]


def test_unit_error_rate_hand_values():
    # [1 2 3 4] -> [1 3 4 5]: delete 2, insert 5 -> 2 edits / 4 units; b: missing -> 3 deletions / 3
    assert unit_error_rate({"a": [1, 2, 3, 4]}, {"a": [1, 3, 4, 5]}) == 50.0
    assert unit_error_rate({"a": [1, 2, 3, 4], "b": [7, 7, 7]}, {"a": [1, 2, 3, 4]}) == pytest.approx(300 / 7)


def test_md_table_formats():
    assert md_table(["a", "b", "c"], [["x", 1.5, 0.001234], ["y", None, 0.0]]) == (
        "| a | b | c |\n|---|---|---|\n| x | 1.50 | 0.00123 |\n| y | None | 0.00 |\n")


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def decode_dir(exp, name, wer, cer, model, global_steps, decode_seconds, rtf, beam=1):
    d = exp / name
    write_json(d / "score.json", {"wer": wer, "cer": cer, "n_utts": 3, "n_words": 12, "sub": 1, "del": 1, "ins": 0})
    write_json(d / "decode_info.json", {"summary": {"model": model, "beam": beam, "global_steps": global_steps,
                                                    "decode_seconds": decode_seconds, "rtf_decode": rtf,
                                                    "params": 1000}})


def test_asr_tables_from_known_rows(tmp_path, capsys):
    for m, steps, secs in (("token_lm", 400, 2.0), ("lst", 100, 0.5)):
        exp = tmp_path / f"asr_{m}"
        decode_dir(exp, "decode_test_greedy", 25.0, 10.0, m, steps, secs, 0.25)
        (exp / "train_seconds").write_text("12.5\n")
    out = tmp_path / "asr_lst" / "RESULTS.md"
    asr_lm(argparse.Namespace(exp=str(tmp_path / "asr_lst"), sets="test", out=str(out)))
    text = out.read_text()
    assert text.startswith("# ASR fine-tuned from the pretrained `lst` backbone")
    assert "| test | greedy | 1 | 3 | 12 | 25.00 | 10.00 | 1 | 1 | 0 | 100 | 0.50 | 0.25 |\n" in text

    out = tmp_path / "RESULTS.md"
    asr_compare(argparse.Namespace(expdir=str(tmp_path), models="token_lm lst", sets="test", out=str(out)))
    text = out.read_text()
    assert "| lst (fine-tuned LM) | test | greedy (beam 1) | 25.00 | 10.00 | 1000 | 12.50 | 0.25 | 100 |" in text
    # speed-up table: 2.0 s / 0.5 s = 4x faster, 400 / 100 = 4x fewer steps
    assert "| test | greedy | 2.00 | 0.50 | 4.00 | 400 | 100 | 4.00 |" in text
    assert "PASS" not in text and "MISS" not in text and "Target" not in text
    capsys.readouterr()


def test_tts_table_from_known_rows(tmp_path, capsys):
    # the ESPnet-ASR column alone (an older run without pocketsphinx scores); test_tts_scoring.py has both
    write_json(tmp_path / "tts_reference" / "decode_test" / "asr_score.json", {"wer": 5.0, "cer": 2.0})
    for m, steps_per_s, secs_per_s in (("token_lm", 50.0, 0.8), ("lst", 12.5, 0.2)):
        d = tmp_path / f"tts_{m}" / "decode_test"
        write_json(d / "asr_score.json", {"wer": 30.0, "cer": 20.0})
        write_json(d / "score.json", {"unit_error_rate": 60.0})
        write_json(d / "decode_info.json", {"summary": {
            "speech_seconds": 4.0, "speech_global_steps": int(4 * steps_per_s),
            "global_steps_per_speech_second": steps_per_s, "decode_seconds": 4 * secs_per_s,
            "decode_seconds_per_speech_second": secs_per_s}})
    out = tmp_path / "RESULTS.md"
    tts(argparse.Namespace(expdir=str(tmp_path), models="token_lm lst", sets="test", out=str(out)))
    text = out.read_text()
    assert "| reference | test | - | - | 5.00 | 2.00 | 0.00 | - | - | - | - | - |" in text
    assert "| lst | test | - | - | 30.00 | 20.00 | 60.00 | 4.00 | 50 | 12.50 | 0.80 | 0.20 |" in text
    # 50 / 12.5 = 4x fewer steps per speech second; 0.8 / 0.2 = 4x faster
    assert "| test | 50.00 | 12.50 | 4.00 | 0.80 | 0.20 | 4.00 |" in text
    capsys.readouterr()
