import json
from pathlib import Path

import numpy as np
import pytest

from lst.tts.espeak import espeak_available, tokenize_for_speech

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng not installed (sudo apt-get install -y espeak-ng)"
)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def syn():
    from lst.tts.espeak import EspeakSynthesizer

    return EspeakSynthesizer(sample_rate=16000)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def test_tokenize_glues_punctuation():
    assert tokenize_for_speech("He said - yes ... ok") == ["He", "said-", "yes...", "ok"]
    assert tokenize_for_speech('" Hi there') == ['"Hi', "there"]


def test_word_timings_from_events(syn):
    syn.set_voice("en-us", 175)
    text = "Rick grew up in a troubled household. He never found good support in family, and turned to gangs."
    res = syn.synthesize(text, utt="t1")
    assert res.sample_rate == 16000 and res.audio.dtype == np.float32
    assert [w.word for w in res.words] == text.split()
    starts = [w.start for w in res.words]
    assert starts[0] < 0.05 and all(a.end <= b.start + 1e-9 for a, b in zip(res.words, res.words[1:]))
    assert all(w.end > w.start for w in res.words)
    assert res.words[-1].end <= res.duration + 1e-6
    # pauses at clause ends are silence gaps; inside a clause words are contiguous
    gaps = {(a.word, b.word): b.start - a.end for a, b in zip(res.words, res.words[1:])}
    assert gaps[("household.", "He")] > 0.15 and gaps[("family,", "and")] > 0.05
    assert gaps[("grew", "up")] == 0.0
    sr = res.sample_rate
    x = res.audio
    a, b = res.words[6].end, res.words[7].start  # the sentence pause
    pause = x[int(a * sr) + 160 : int(b * sr) - 160]
    word = x[int(res.words[5].start * sr) : int(res.words[5].end * sr)]  # "troubled"
    assert rms(pause) < 0.05 * rms(word)
    # the audio before the first word's onset and after the last word's end is near silent
    assert rms(x[int(res.words[-1].end * sr) + 160 :]) < 0.05 * rms(word)


def test_timings_scale_with_rate_and_merged_words_are_split(syn):
    text = "Laverne tests one of the brownies to make sure it is delicious."
    syn.set_voice("en-us", 120)
    slow = syn.synthesize(text)
    syn.set_voice("en-us", 240)
    fast = syn.synthesize(text)
    assert fast.duration < 0.7 * slow.duration
    for res in (slow, fast):
        # espeak-ng speaks "of the" as one phonological word; both still get distinct timings
        of, the = res.words[3], res.words[4]
        assert (of.word, the.word) == ("of", "the") and of.start < of.end == the.start < the.end


def test_unknown_voice(syn):
    with pytest.raises(ValueError, match="no voice 'xx-nonexistent'"):
        syn.set_voice("xx-nonexistent")


def load_recipe_tool(path):
    """A recipe's local/*.py tool as a module (recipes run them as scripts)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synth_stories_cli(tmp_path):
    from conftest import REPO_ROOT

    tool = load_recipe_tool(REPO_ROOT / "egs" / "storycloze" / "lst1" / "local" / "synth_stories.py")
    main, split_of = tool.main, tool.split_of
    from lst.data.timings import read_ctm, read_text

    csv = SHARED / "data" / "storycloze" / "cloze_val.csv"
    if not csv.exists():
        pytest.skip(f"{csv} not found")
    rc = main([
        "--csv", str(csv), "--out_dir", str(tmp_path / "data"), "--wav_dir", str(tmp_path / "wav"),
        "--n_stories", "3", "--n_valid_stories", "2", "--n_test_stories", "2",
        "--voices", "en-us,en-us+f3", "--heldout_voices", "en-029+f4", "--rates", "160,200", "--nj", "2",
    ])
    assert rc == 0
    import soundfile as sf

    sets = {}
    for name, n in (("train", 12), ("valid", 2), ("test", 2)):
        d = tmp_path / "data" / name
        text = read_text(d / "text")
        ctm = read_ctm(d / "word_ctm")
        assert len(text) == n and set(text) == set(ctm)
        for utt, words in text.items():
            assert [w.word for w in ctm[utt]] == words
        wavs = dict(l.split() for l in (d / "wav.scp").read_text().splitlines())
        for utt, w in list(wavs.items())[:2]:
            info = sf.info(w)
            assert info.samplerate == 16000 and info.channels == 1
            assert ctm[utt][-1].end <= info.duration + 1e-3
        spk = dict(l.split() for l in (d / "utt2spk").read_text().splitlines())
        sets[name] = (set(u.split("_", 1)[1] for u in text), set(spk.values()))
    # held-out stories and the held-out voice are never in train
    assert not (sets["test"][0] & sets["train"][0]) and not (sets["valid"][0] & sets["train"][0])
    assert all(s.startswith("en029xf4") for s in sets["test"][1])
    assert not any(s.startswith("en029") for s in sets["train"][1] | sets["valid"][1])
    stories = [json.loads(l) for l in (tmp_path / "data" / "eval_stories.jsonl").read_text().splitlines()]
    assert len(stories) > 100 and all(split_of(s["context"][0], 15, 5) == "eval" for s in stories)
    assert all(len(s["context"]) == 4 and len(s["endings"]) == 2 and s["label"] in (0, 1) for s in stories)
    assert {s["story_id"] for s in stories} >= sets["test"][0]
