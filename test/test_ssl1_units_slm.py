"""egs/an4/ssl1 stage 10: spoken-LM benchmark accuracies by unit set (local/units_slm_results.py)
on hand-made per-item score files, and the driver's option handling."""
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "an4" / "ssl1"


def load_results_tool():
    spec = importlib.util.spec_from_file_location("units_slm_results", RECIPE / "local" / "units_slm_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_scores(sweep: Path, size: str, cls: str, correct: dict):
    """correct: {benchmark/mode: [(raw, norm), ...]} -> <sweep>/<size>/<cls>_flops/eval/bench_scores.jsonl"""
    d = sweep / size / f"{cls}_flops" / "eval"
    d.mkdir(parents=True)
    with open(d / "bench_scores.jsonl", "w") as f:
        for key, marks in correct.items():
            bench, mode = key.split("/")
            for i, (raw, norm) in enumerate(marks):
                f.write(json.dumps({"id": f"{bench}-{i}-{mode}", "benchmark": bench, "mode": mode,
                                    "correct_raw": raw, "correct_norm": norm}) + "\n")


def test_accuracies_and_paired_differences(tmp_path):
    tool = load_results_tool()
    # blimp S->S: mfcc right (norm) on items 0-9 of 20, hubert on 0-15 -> +30 points; T->T not reported
    write_scores(tmp_path / "mfcc", "xs", "token_lm", {"blimp/S->S": [(1, 1)] * 10 + [(0, 0)] * 10,
                                                       "blimp/T->T": [(1, 1)] * 20})
    write_scores(tmp_path / "hub", "xs", "token_lm", {"blimp/S->S": [(0, 1)] * 16 + [(0, 0)] * 4,
                                                      "blimp/T->T": [(1, 1)] * 20})
    out = tmp_path / "r"
    assert tool.main(["--runs", f"mfcc={tmp_path / 'mfcc'}", f"hub={tmp_path / 'hub'}", "--reference", "mfcc",
                      "--sizes", "xs", "--classes", "token_lm", "--out_md", str(out / "R.md"),
                      "--out_json", str(out / "R.json")]) == 0
    rows = json.loads((out / "R.json").read_text())
    assert [(r["units"], r["mode"]) for r in rows] == [("mfcc", "S->S"), ("hub", "S->S")]
    mfcc, hub = rows
    assert mfcc["acc_norm"] == 0.5 and mfcc["acc_raw"] == 0.5 and "diff_norm" not in mfcc
    assert hub["acc_norm"] == 0.8 and hub["acc_raw"] == 0.0 and hub["n"] == 20
    assert hub["diff_norm"] == pytest.approx(0.3) and hub["diff_raw"] == pytest.approx(-0.5)
    assert hub["diff_ci95_norm"][0] > 0 and hub["diff_ci95_raw"][1] < 0
    md = (out / "R.md").read_text()
    assert "| xs | token_lm | blimp | S->S | hub | 80.0 [" in md and "+30.0 [" in md


def test_mismatched_items_and_bad_lines_are_named(tmp_path):
    tool = load_results_tool()
    write_scores(tmp_path / "a", "xs", "token_lm", {"sc/S->S": [(1, 1)] * 4})
    write_scores(tmp_path / "b", "xs", "token_lm", {"sc/S->S": [(1, 1)] * 3})
    common = ["--sizes", "xs", "--classes", "token_lm", "--out_md", str(tmp_path / "R.md"),
              "--out_json", str(tmp_path / "R.json")]
    with pytest.raises(SystemExit, match="scored different sc/S->S items"):
        tool.main(["--runs", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--reference", "a", *common])
    with pytest.raises(SystemExit, match="not found.*has not scored xs/token_lm"):
        tool.main(["--runs", f"a={tmp_path / 'a'}", f"c={tmp_path / 'c'}", "--reference", "a", *common])
    with pytest.raises(SystemExit, match="--reference z is not one of"):
        tool.main(["--runs", f"a={tmp_path / 'a'}", "--reference", "z", *common])
    f = tmp_path / "b" / "xs" / "token_lm_flops" / "eval" / "bench_scores.jsonl"
    f.write_text(f.read_text() + "{not json\n")
    with pytest.raises(SystemExit, match=r"bench_scores.jsonl:4: not JSON"):
        tool.main(["--runs", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--reference", "a", *common])
    f.write_text("\n".join(f.read_text().splitlines()[:3]) + '\n{"id": "x", "benchmark": "sc"}\n')
    with pytest.raises(SystemExit, match=r"bench_scores.jsonl:4: not a benchmark score line .*mode"):
        tool.main(["--runs", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--reference", "a", *common])


def test_driver_refuses_unknown_options_and_prints_help():
    r = subprocess.run(["bash", "local/units_slm.sh", "--help"], cwd=RECIPE, capture_output=True, text=True)
    assert r.returncode == 0 and "--unit_sets" in r.stdout
    r = subprocess.run(["bash", "local/units_slm.sh", "--no_such_option", "1"], cwd=RECIPE, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "no_such_option" in (r.stdout + r.stderr)
