"""The one batched scorer (lst.eval.scorer) on hand-made items with known answers, and the
RESULTS.json rows (lst.eval.results)."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from lst.eval.benchmark import BenchmarkFormatError, read_items, write_items
from lst.eval.results import (ResultsError, accuracy_rows, nll_rows, read_results_json, run_fields, validate_row,
                              write_results_json)
from lst.eval.scorer import format_table, heldout_nll, paired_bootstrap_nll, score_items, summarize
from lst.eval.stats import wilson_interval
from lst.vocab import SpeechTextVocab
from test_story_eval import vocab  # the same 11 pieces and 12 units


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedLM(nn.Module):
    """log p(token) = table[token] whatever the context (default -3); counts its calls."""

    def __init__(self, table):
        super().__init__()
        self.table = table
        self.calls = []

    def token_logprobs(self, seq, seq_lengths, seg_start=None):
        self.calls.append(seq.shape[0])
        out = torch.zeros(seq.shape)
        for b in range(seq.shape[0]):
            for t in range(1, int(seq_lengths[b])):
                out[b, t] = self.table.get(int(seq[b, t]), -3.0)
        return out


def T(items):
    return {"text": items, "items": "<t> " + items}


def S(units):
    u = [int(x) for x in units.replace("|", " ").split()]
    return {"text": units, "items": "<s> " + units, "audio": "x.wav", "units": u, "words": [["w", 0.0, 0.1]],
            "unit_rate_hz": 25.0}


def item(iid, bench, mode, ctx, cands, label, meta=None):
    return {"id": iid, "benchmark": bench, "mode": mode, "label": label, "context": ctx, "candidates": cands,
            "meta": meta or {}}


def known_items():
    return [
        # 2-way text, raw and norm disagree: [-2 (mean -1), -3 (mean -0.5)]
        item("a", "sc", "T->T", T("▁the ▁cat"), [T("▁mat ▁mat"), T(" ".join(["▁home"] * 6))], 0),
        # 4-way text: ▁dog -0.2 is best by both rules; label 2
        item("b", "hellaswag", "T->T", T("▁the"), [T("▁mat"), T("▁cat"), T("▁dog"), T("▁sat")], 2),
        # 4-way, three-way tie at the top ([-3, -3, -3, -5]) containing the label: 1/3
        item("c", "hellaswag", "T->T", T("▁the"), [T("▁a"), T("▁b"), T("▁on"), T("▁ran ▁ran")], 1),
        # 2-way exact tie: 0.5
        item("d", "tsc", "S->S", S("1 2"), [S("4"), S("4")], 1),
        # BLiMP, empty context, speech: [-2, -0.4] label 1 right by both
        item("e", "blimp", "S->S", None, [S("4"), S("5 5 | 5 5")], 1, {"field": "syntax", "paradigm": "p1"}),
        item("f", "blimp", "T->T", None, [T("▁mat"), T("▁home")], 0, {"field": "morphology", "paradigm": "p2"}),
        # cross-modal: the marker is conditioning, not scored (S->T: <t> gets no score)
        item("g", "sc", "S->T", S("1 | 2"), [T("▁home"), T("▁mat")], 0),
    ]


def table(v):
    return {v.piece_id("▁mat"): -1.0, v.piece_id("▁home"): -0.5, v.piece_id("▁dog"): -0.2,
            v.piece_id("▁ran"): -2.5, v.unit_id(4): -2.0, v.unit_id(5): -0.1}


def test_scores_and_accuracies_known_answers():
    v = vocab()
    model = FixedLM(table(v))
    scored = {r["id"]: r for r in score_items(model, v, known_items(), batch_size=3)}
    assert scored["a"]["raw"] == pytest.approx([-2.0, -3.0]) and scored["a"]["norm"] == pytest.approx([-1.0, -0.5])
    assert scored["a"]["n_scored"] == [2, 6]
    assert scored["a"]["correct_raw"] == 1.0 and scored["a"]["correct_norm"] == 0.0
    assert scored["b"]["raw"] == pytest.approx([-1.0, -3.0, -0.2, -3.0]) and scored["b"]["correct_raw"] == 1.0
    assert scored["c"]["raw"] == pytest.approx([-3.0, -3.0, -3.0, -5.0])
    assert scored["c"]["correct_raw"] == pytest.approx(1 / 3) and scored["c"]["correct_norm"] == 0.0  # norm: -2.5 per token wins
    assert scored["d"]["correct_raw"] == 0.5
    assert scored["e"]["raw"] == pytest.approx([-2.0, -0.4]) and scored["e"]["n_scored"] == [1, 4]
    assert scored["g"]["raw"] == pytest.approx([-0.5, -1.0]) and scored["g"]["n_scored"] == [1, 1]
    assert max(model.calls) <= 3 and sum(model.calls) == sum(len(i["candidates"]) for i in known_items())

    s = summarize(list(scored.values()))
    res = s["results"]
    assert list(res) == ["sc/T->T", "sc/S->T", "tsc/S->S", "blimp/S->S", "blimp/T->T", "hellaswag/T->T"]
    assert res["hellaswag/T->T"]["raw"]["accuracy"] == pytest.approx((1 + 1 / 3) / 2)
    assert res["hellaswag/T->T"]["chance"] == 0.25 and res["sc/T->T"]["chance"] == 0.5
    assert res["hellaswag/T->T"]["raw"]["ties"] == 1 and res["tsc/S->S"]["raw"]["ties"] == 1
    lo, hi = res["hellaswag/T->T"]["raw"]["ci95"]
    assert (lo, hi) == pytest.approx(wilson_interval(1 + 1 / 3, 2))
    assert s["breakdown"]["blimp/S->S"]["field"]["syntax"]["raw"]["accuracy"] == 1.0
    assert s["breakdown"]["blimp/T->T"]["paradigm"]["p2"]["norm"]["accuracy"] == 0.0  # -1 vs -0.5 per token
    assert "hellaswag/T->T" in format_table(s)


def test_token_cap_batches_and_bad_items(tmp_path):
    v = vocab()
    model = FixedLM(table(v))
    a = score_items(model, v, known_items(), batch_size=16, max_tokens=12)
    b = score_items(FixedLM(table(v)), v, known_items(), batch_size=1)
    assert [r["raw"] for r in a] == [r["raw"] for r in b] and max(model.calls) < 16
    bad = item("x", "sc", "T->T", T("▁the"), [T("▁mat"), S("1")], 0)
    write_items([known_items()[0], bad], tmp_path / "b.jsonl")
    with pytest.raises(BenchmarkFormatError, match=r"b.jsonl:2 \(item x-?.*candidate 1"):
        read_items(tmp_path / "b.jsonl")
    with pytest.raises(BenchmarkFormatError, match="unit id 99"):
        score_items(model, v, [item("y", "blimp", "S->S", None, [S("4"), S("99")], 0)])


def test_heldout_nll_per_unit_and_token():
    v = vocab()
    lines = {"s1": "<s> 4 4 | 5 <t> ▁mat ▁home", "s2": "<t> ▁mat"}
    r = heldout_nll(FixedLM(table(v)), v, lines, batch_size=1)
    assert r["speech"] == pytest.approx((2 + 2 + 0.1) / 3) and r["n_units"] == 3
    assert r["text"] == pytest.approx((1 + 0.5 + 1) / 3) and r["n_tokens"] == 3
    assert heldout_nll(FixedLM(table(v)), v, {"t": "<t> ▁mat"})["speech"] is None
    assert r["per_sequence"]["s1"] == pytest.approx([2 + 2 + 0.1, 3, 1 + 0.5, 2])
    assert r["per_sequence"]["s2"] == pytest.approx([0.0, 0, 1, 1])


def test_paired_bootstrap_nll_known_differences():
    def res(per):
        return {"per_sequence": {k: list(v) for k, v in per.items()}}
    a = res({f"s{i}": [1.0 * (i + 1), i + 1, 2.0, 1] for i in range(20)})   # 1 nat/unit everywhere
    b = res({f"s{i}": [1.5 * (i + 1), i + 1, 2.0, 1] for i in range(20)})   # 1.5 nats/unit everywhere
    d = paired_bootstrap_nll(a, b, "speech", n_boot=500)
    assert d["diff"] == pytest.approx(-0.5) and d["ci95"] == pytest.approx([-0.5, -0.5])
    assert d["p_a_better"] == 1.0 and d["n_sequences"] == 20
    t = paired_bootstrap_nll(a, b, "text", n_boot=500)   # identical text: no difference, never better
    assert t["diff"] == 0.0 and t["p_a_better"] == 0.0
    # mixed signs: the interval covers 0
    c = res({f"s{i}": [(1.0 if i % 2 else 2.0) * 10, 10, 0.0, 0] for i in range(40)})
    e = res({f"s{i}": [(2.0 if i % 2 else 1.0) * 10, 10, 0.0, 0] for i in range(40)})
    m = paired_bootstrap_nll(c, e, "speech", n_boot=1000)
    assert m["diff"] == pytest.approx(0.0) and m["ci95"][0] < 0 < m["ci95"][1]
    assert paired_bootstrap_nll(c, e, "text") is None          # no text tokens
    assert paired_bootstrap_nll({"speech": 1.0}, b) is None      # an old result without per_sequence
    with pytest.raises(ValueError, match="different held-out sequences"):
        paired_bootstrap_nll(a, res({"other": [1.0, 1, 1.0, 1]}))


def test_results_rows_validate_and_round_trip(tmp_path):
    v = vocab()
    summary = summarize(score_items(FixedLM(table(v)), v, known_items()))
    run = run_fields("lst", "static", "flops", 3_810_000, 1.5e12)
    rows = accuracy_rows(run, summary) + nll_rows(run, {"speech": 3.2, "text": 5.1})
    assert len(rows) == 2 * len(summary["results"]) + 2
    assert {r["normalised"] for r in rows if r["benchmark"] != "heldout"} == {True, False}
    base = run_fields("token_lm", "static", "steps", 3_600_000, 1.0e12)
    assert base["patching"] == "none"
    rows += nll_rows(base, {"speech": 3.5, "text": None})
    write_results_json(rows, tmp_path / "RESULTS.json")
    back = read_results_json(tmp_path / "RESULTS.json")
    assert len(back) == len(rows) and all(set(r) >= {"model", "control", "train_flops"} for r in back)
    good = next(r for r in rows if r["benchmark"] == "sc")
    for change, msg in [({"acc": 1.5}, "fraction"), ({"control": "compute"}, "control"),
                        ({"mode": "S"}, "mode"), ({"patching": "none"}, "patching"), ({"n": 0}, "positive"),
                        ({"acc": 0.1, "ci_low": 0.5, "ci_high": 0.6}, "outside"), ({"extra": 1}, "extra")]:
        with pytest.raises(ResultsError, match=msg):
            validate_row(dict(good, **change))
    with pytest.raises(ResultsError, match="duplicates"):
        write_results_json(rows + [rows[0]], tmp_path / "dup.json")
    (tmp_path / "bad.json").write_text(json.dumps([dict(rows[-1], nll=float("nan"))]).replace("NaN", "-1"))
    with pytest.raises(ResultsError, match="nll"):
        read_results_json(tmp_path / "bad.json")
    assert np.isfinite([r["train_flops"] for r in back]).all()


def test_add_columns_completes_rows_by_key():
    from lst.eval.results import add_columns

    rows = [{"units": "a", "set": "x", "note": "not measured"}, {"units": "b"}, {"units": "a", "set": "y"}]
    add_columns(rows, "units", "a", {"wer": 5.0}, drop=("note",))
    add_columns(rows, "units", "c", {"wer": 7.0})
    assert rows == [{"units": "a", "set": "x", "wer": 5.0}, {"units": "b"}, {"units": "a", "set": "y", "wer": 5.0},
                    {"units": "c", "wer": 7.0}]


def test_score_benchmark_cli_heldout_along_checkpoints(tmp_path):
    """lst.bin.score_benchmark (what the sweep calls): benchmark accuracies of one model file
    and held-out NLL of every listed checkpoint, each equal to the library's own numbers."""
    from lst.bin import score_benchmark
    from lst.tasks.lst import LSTTask
    from test_pack import make_pretrained

    src = make_pretrained(tmp_path, "token_lm", n_units=12)
    sp, v = src["sp"], SpeechTextVocab(yaml_tokens(src["config"]))
    p = lambda s: " ".join(sp.encode(s, out_type=str))  # noqa: E731
    items = [item("i1", "sc", "T->T", T(p("THE CAT")), [T(p("SAT ON THE MAT")), T(p("YES NO"))], 0),
             item("i2", "blimp", "S->S", None, [S("1 2 | 3"), S("4 4")], 1, {"field": "f", "paradigm": "p"})]
    write_items(items, tmp_path / "bench.jsonl")
    heldout = {"h1": "<s> 1 2 3 <t> " + p("THE CAT"), "h2": "<t> " + p("YES NO GO")}
    (tmp_path / "heldout").write_text("".join(f"{k} {x}\n" for k, x in heldout.items()))
    other = tmp_path / "other.pth"
    torch.save({k: t + 0.1 for k, t in torch.load(src["model_file"]).items()}, other)
    out = tmp_path / "scores.json"
    assert score_benchmark.main(["--config", src["config"], "--model_file", src["model_file"], "--benchmark",
                                 str(tmp_path / "bench.jsonl"), "--heldout", str(tmp_path / "heldout"),
                                 "--heldout_model_files", src["model_file"], str(other), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    model, _ = LSTTask.build_model_from_file(src["config"], src["model_file"], device="cpu")
    want = summarize(score_items(model.eval(), v, read_items(tmp_path / "bench.jsonl")))["results"]
    assert res["results"] == json.loads(json.dumps(want))
    by_file = res["heldout_by_model_file"]
    assert set(by_file) == {src["model_file"], str(other)}
    for f in (src["model_file"], str(other)):
        m, _ = LSTTask.build_model_from_file(src["config"], f, device="cpu")
        direct = heldout_nll(m.eval(), v, heldout)
        assert by_file[f]["speech"] == pytest.approx(direct["speech"]) and by_file[f]["text"] == pytest.approx(direct["text"])
    assert by_file[str(other)]["speech"] != pytest.approx(by_file[src["model_file"]]["speech"])
    assert score_benchmark.main(["--config", src["config"], "--model_file", str(tmp_path / "nope.pth"),
                                 "--heldout", str(tmp_path / "heldout")]) == 1


def yaml_tokens(config):
    import yaml

    with open(config, encoding="utf-8") as f:
        return yaml.safe_load(f)["token_list"]
