"""Benchmark builders (lst.eval.benchmark, lst.bin.make_benchmark) on a few real items of each
benchmark, and the held-out voice: never in the training data the rocstories recipe builds,
always in the spoken benchmark items."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lst.eval.benchmark import (BenchmarkFormatError, blimp_items, build_text_items, hellaswag_items, read_items,
                                read_jsonl, read_storycloze, render_items, speech_texts, storycloze_items,
                                topic_items, write_items)
from lst.tts.voices import HELDOUT_RATE, HELDOUT_VOICE, TRAINING_RATES, TRAINING_VOICES, check_heldout_voice

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SC = [DATA / "storycloze/cloze_val.csv", DATA / "storycloze/cloze2016_val.csv"]
BLIMP = DATA / "blimp/blimp_dev.jsonl"
HS = DATA / "hellaswag/hellaswag_dev.jsonl"
RECIPE = ROOT / "egs/rocstories/lst1"

needs_data = pytest.mark.skipif(not (SC[0].exists() and BLIMP.exists() and HS.exists()),
                                reason="../shared/data not present")


def encode(text):
    return ["▁" + w for w in text.split()]


@needs_data
def test_text_builders_keep_labels_and_candidates():
    stories = read_storycloze(SC)
    assert len(stories) > 1800 and len({s["story_id"] for s in stories}) == len(stories)  # the two files merged
    sc = storycloze_items(stories[:5])
    import csv
    with open(SC[0], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:5]
    for it, row in zip(sc, rows):
        assert it.candidates == [row["RandomFifthSentenceQuiz1"], row["RandomFifthSentenceQuiz2"]]
        assert it.label == int(row["AnswerRightEnding"]) - 1 and it.context.startswith(row["InputSentence1"])
    tsc = topic_items(stories[:20], seed=3)
    assert tsc == topic_items(stories[:20], seed=3)  # deterministic
    for it, s in zip(tsc, stories[:20]):
        right = s["endings"][s["label"]]
        assert it.candidates[it.label] == right and it.meta["distractor_story"] != s["story_id"]
        other = next(o for o in stories[:20] if o["story_id"] == it.meta["distractor_story"])
        assert it.candidates[1 - it.label] == other["endings"][other["label"]]
    assert {it.label for it in tsc} == {0, 1}

    rows = read_jsonl(BLIMP, ("sentence_good", "sentence_bad", "field", "UID"))[:30]
    bl = blimp_items(rows, seed=0)
    for it, r in zip(bl, rows):
        assert it.context == "" and it.candidates[it.label] == r["sentence_good"]
        assert it.candidates[1 - it.label] == r["sentence_bad"]
        assert it.meta["field"] == r["field"] and it.meta["paradigm"] == r["UID"]
    assert {it.label for it in bl} == {0, 1}
    small = build_text_items("blimp", [BLIMP], n_items=67)
    assert len({it.meta["paradigm"] for it in small}) == 67  # round-robin over paradigms

    hrows = read_jsonl(HS, ("ctx", "endings", "label", "ind"))[:5]
    hs = hellaswag_items(hrows)
    for it, r in zip(hs, hrows):
        assert it.candidates == r["endings"] and it.label == r["label"] and it.context == r["ctx"]

    # rendering: T->T keeps every candidate and the label; BLiMP gets no cross-modal modes
    with pytest.raises(BenchmarkFormatError, match="no spoken part"):
        render_items(hs[:1], ["S->T"], encode, speech={})
    out = render_items(hs + bl[:2], ["T->T"], encode)
    assert [o["label"] for o in out] == [it.label for it in hs + bl[:2]]
    assert out[0]["candidates"][2]["items"] == "<t> " + " ".join(encode(hrows[0]["endings"][2]))
    assert out[-1]["context"] is None and out[-1]["mode"] == "T->T"
    assert set(speech_texts(bl[:2], ["S->T", "T->S"])) == set()  # BLiMP has only S->S / T->T
    assert len(speech_texts(hs[:1], ["S->S"])) == 5  # context + 4 endings, one utterance each


def test_bad_sources_name_file_and_line(tmp_path):
    p = tmp_path / "hs.jsonl"
    p.write_text(json.dumps({"ctx": "a b", "endings": ["x", "y"], "label": 0, "ind": 1}) + "\n"
                 + json.dumps({"ctx": "a", "endings": ["x", "y"], "label": 5, "ind": 2}) + "\n")
    with pytest.raises(BenchmarkFormatError, match=r"hs.jsonl:2: label 5"):
        build_text_items("hellaswag", [p])
    p.write_text('{"ctx": "a"}\n')
    with pytest.raises(BenchmarkFormatError, match=r"hs.jsonl:1: missing keys"):
        build_text_items("hellaswag", [p])
    p.write_text('{"ctx": "a", "endings": ["x", "y"], "label": 0, "ind": 1}\n5\n')
    with pytest.raises(BenchmarkFormatError, match=r"hs.jsonl:2: expected a JSON object"):
        build_text_items("hellaswag", [p])
    with pytest.raises(BenchmarkFormatError, match=r"nope.jsonl: not found"):
        build_text_items("hellaswag", [tmp_path / "nope.jsonl"])


def test_story_benchmark_reader_shares_the_json_lines_reader(tmp_path):
    from lst.eval.story import BenchmarkError, read_benchmark

    p = tmp_path / "b.jsonl"
    p.write_text("[1]\n")
    with pytest.raises(BenchmarkError, match=r"b.jsonl:1: expected a JSON object"):
        read_benchmark(p)
    p.write_text("{oops\n")
    with pytest.raises(BenchmarkError, match=r"b.jsonl:1: not JSON"):
        read_benchmark(p)
    with pytest.raises(BenchmarkError, match=r"none.jsonl: not found \(make it with egs/storycloze"):
        read_benchmark(tmp_path / "none.jsonl")


def test_heldout_voice_is_not_a_training_voice():
    assert HELDOUT_VOICE not in TRAINING_VOICES and HELDOUT_RATE not in TRAINING_RATES
    check_heldout_voice(HELDOUT_VOICE, HELDOUT_RATE)
    with pytest.raises(ValueError, match="training voice"):
        check_heldout_voice(TRAINING_VOICES[0], HELDOUT_RATE)
    with pytest.raises(ValueError, match="training rate"):
        check_heldout_voice(HELDOUT_VOICE, TRAINING_RATES[0])


def espeak_ok():
    from lst.tts.espeak import espeak_available

    return espeak_available()


@pytest.fixture(scope="module")
def recipe_data(tmp_path_factory):
    """The recipe's corpus builder on 4 stories + a k-means model and a BPE model on them."""
    if not (espeak_ok() and SC[0].exists()):
        pytest.skip("espeak-ng or ../shared/data missing")
    d = tmp_path_factory.mktemp("roc")
    r = subprocess.run([sys.executable, str(RECIPE / "local/prepare_data.py"), "--rocstories",
                        str(DATA / "rocstories/rocstories_pool.txt"), "--storycloze", *map(str, SC),
                        "--out_dir", str(d / "data"), "--wav_dir", str(d / "wav"), "--n_speech_stories", "4",
                        "--copies", "2", "--n_valid_stories", "2", "--n_test_stories", "1", "--text_sources", "",
                        "--nj", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    from lst.bin import dump_features, format_wav, learn_kmeans

    format_wav.main(["--wav_scp", str(d / "data/train/wav.scp"), "--out_dir", str(d / "raw"), "--nj", "1"])
    dump_features.main(["--wav_scp", str(d / "raw/wav.scp"), "--out_dir", str(d / "feats"), "--feature_type", "mfcc",
                        "--frame_rate_hz", "25", "--nj", "1"])
    learn_kmeans.main(["--feats_dir", str(d / "feats"), "--n_clusters", "8", "--out_dir", str(d / "km")])
    import sentencepiece as spm

    text = d / "lm.txt"
    lines = [l.split(" ", 1)[1] for l in (d / "data/lm_text/text").read_text().splitlines()]
    lines += [json.loads(l)["ctx"] for l in HS.read_text().splitlines()[:20]]
    text.write_text("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(d / "bpe"), vocab_size=120,
                                   model_type="bpe", character_coverage=1.0, hard_vocab_limit=False,
                                   minloglevel=2)
    return d


def test_training_data_never_uses_the_heldout_voice(recipe_data):
    from lst.tts.speak import speaker_id

    d = recipe_data / "data"
    held = speaker_id(HELDOUT_VOICE, HELDOUT_RATE).split("-")[0]
    stats = json.loads((d / "corpus_stats.json").read_text())
    for name in ("train", "valid"):
        spk = {l.split()[1] for l in (d / name / "utt2spk").read_text().splitlines()}
        assert spk and all(not s.startswith(held + "-") for s in spk), spk
        assert all(int(s.rsplit("-r", 1)[1]) in TRAINING_RATES for s in spk)
        assert stats[name]["utterances"] == {"train": 8, "valid": 2}[name]
    assert len({l.split()[1] for l in (d / "train/utt2spk").read_text().splitlines()}) == 8  # copies x voices cycled
    assert (d / "test/utt2spk").read_text().split()[1] == speaker_id(HELDOUT_VOICE, HELDOUT_RATE)
    r = subprocess.run([sys.executable, str(RECIPE / "local/prepare_data.py"), "--rocstories", "x", "--storycloze",
                        "y", "--voices", HELDOUT_VOICE], capture_output=True, text=True)
    assert r.returncode != 0 and "held-out benchmark voice" in r.stderr


@pytest.mark.slow  # three espeak + unit pipelines (~1 min)
def test_spoken_items_carry_units_and_timings(recipe_data, tmp_path):
    from lst.bin import make_benchmark

    d = recipe_data
    common = ["--bpe_model", str(d / "bpe.model"), "--km_dir", str(d / "km"), "--feature_type", "mfcc",
              "--frame_rate_hz", "25", "--nj", "1"]
    make_benchmark.main(["--benchmark", "sc", "--source", *map(str, SC), "--n_items", "2", "--out",
                         str(tmp_path / "sc.jsonl"), "--work_dir", str(tmp_path / "w_sc"), *common])
    make_benchmark.main(["--benchmark", "hellaswag", "--source", str(HS), "--n_items", "1", "--modes", "S->S,T->T",
                         "--out", str(tmp_path / "hs.jsonl"), "--work_dir", str(tmp_path / "w_hs"), *common])
    make_benchmark.main(["--benchmark", "blimp", "--source", str(BLIMP), "--n_items", "2", "--out",
                         str(tmp_path / "bl.jsonl"), "--work_dir", str(tmp_path / "w_bl"), *common])
    sc, hs, bl = (read_items(tmp_path / f) for f in ("sc.jsonl", "hs.jsonl", "bl.jsonl"))
    stories = read_storycloze(SC)[:2]
    assert sorted({it["mode"] for it in sc}) == sorted(["S->S", "T->T", "S->T", "T->S"]) and len(sc) == 8
    assert [it["mode"] for it in bl] == ["S->S", "S->S", "T->T", "T->T"]  # no cross-modal BLiMP
    for it in sc:
        s = next(s for s in stories if it["meta"]["story_id"] == s["story_id"])
        assert it["label"] == s["label"] and [c["text"] for c in it["candidates"]] == s["endings"]
        assert it["context"]["text"] == " ".join(s["context"])
    spoken = [p for it in sc + hs + bl for p in ([it["context"]] if it["context"] else []) + it["candidates"]
              if p["items"].startswith("<s>")]
    assert len(spoken) == 2 * 6 + 5 + 2 * 2  # sc: ctx + 2 (S->S), ctx (S->T), 2 (T->S); hs: 1 + 4; blimp: 2 x 2
    for p in spoken:
        assert p["voice"] == HELDOUT_VOICE and p["rate"] == HELDOUT_RATE and Path(p["audio"]).exists()
        assert len(p["units"]) > 5 and all(0 <= u < 8 for u in p["units"])
        assert [w[0] for w in p["words"]] == p["text"].split() or len(p["words"]) >= len(p["text"].split()) - 2
        assert all(0 <= w[1] <= w[2] <= len(p["units"]) / 25 + 0.1 for w in p["words"])
        assert p["items"].count("|") >= 1  # word / silence segments from the timings
    h = hs[0]
    assert h["mode"] == "S->S" and len(h["candidates"]) == 4 and h["label"] == json.loads(HS.read_text().splitlines()[0])["label"]
    # a rerun (same texts, voice, rate, k-means) reuses the work dir; Topic Story Cloze's texts are
    # a subset of Story Cloze's, so it reuses sc's work dir too
    stamp = (tmp_path / "w_sc/units/units").stat().st_mtime_ns
    make_benchmark.main(["--benchmark", "tsc", "--source", *map(str, SC), "--n_items", "2", "--out",
                         str(tmp_path / "tsc.jsonl"), "--work_dir", str(tmp_path / "w_sc"), *common])
    assert (tmp_path / "w_sc/units/units").stat().st_mtime_ns == stamp
    tsc = read_items(tmp_path / "tsc.jsonl")
    assert {p["units"] == q["units"] for it in tsc for p in it["candidates"] if "units" in p
            for s_it in sc for q in s_it["candidates"] if q["text"] == p["text"] and "units" in q} == {True}
    write_items(sc, tmp_path / "copy.jsonl")
    assert read_items(tmp_path / "copy.jsonl") == sc
    with pytest.raises(SystemExit, match="training voice"):
        make_benchmark.main(["--benchmark", "sc", "--source", *map(str, SC), "--n_items", "2", "--out",
                             str(tmp_path / "x.jsonl"), "--voice", TRAINING_VOICES[0], *common])
