"""egs/ljspeech/tts1/local/text_conditioning.sh on a tiny LST (does a TTS model use the text?):
the rotated transcripts, lst.bin.evaluate on own and rotated t2s sequences, and the summary rows
(text gain = speech NLL with rotated text minus with own text)."""
import json
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(not (REPO_ROOT / "tools" / "activate_python.sh").exists(),
                                reason="run tools/setup.sh first")

TEXT = {"a1": "THE CAT SAT ON THE MAT", "b2": "YES NO GO STOP", "c3": "ELEVEN TWENTY SEVEN"}


def make_recipe(root, text=TEXT):
    """What tts.sh stages 1-4 leave for one model (lst) and one set (test): the transcripts, the
    units, the t2s corpus, the unpacked package's BPE and a 'fine-tuned' model."""
    from lst.bin.build_corpus import main as build_corpus
    from test_pack import make_pretrained

    r = root / "tts1"
    r.mkdir()
    for name, target in (("local", "egs/ljspeech/tts1/local"), ("utils", "egs/TEMPLATE/lst1/utils"),
                         ("path.sh", "egs/TEMPLATE/lst1/path.sh")):
        (r / name).symlink_to(REPO_ROOT / target)
    (root / "pkg").mkdir()
    src = make_pretrained(root / "pkg", "lst")
    ft, pkg = r / "exp" / "tts_lst", r / "exp" / "pretrained_lst"
    ft.mkdir(parents=True)
    pkg.mkdir()
    shutil.copy(src["config"], ft / "config.yaml")
    shutil.copy(src["model_file"], ft / "valid.loss.best.pth")
    shutil.copy(src["bpe_model"], pkg / "bpe.model")
    raw, units = r / "dump" / "raw" / "test", r / "dump" / "units" / "pkg_lst" / "test"
    raw.mkdir(parents=True)
    units.mkdir(parents=True)
    (raw / "text").write_text("".join(f"{u} {w}\n" for u, w in text.items()))
    (units / "units").write_text("".join(f"{u} {' '.join(str(k % 10) for k in range(i, i + 12))}\n"
                                         for i, u in enumerate(text)))
    shutil.copy(src["unit_info"], units / "unit_info.json")
    corpus = r / "dump" / "corpus" / "pkg_lst_t2s" / "test"
    assert build_corpus(["--units", str(units / "units"), "--unit_info", str(units / "unit_info.json"),
                         "--text", str(raw / "text"), "--bpe_model", src["bpe_model"], "--kinds", "t2s",
                         "--out", str(corpus / "seqs")]) == 0
    return r


def run(recipe, *args):
    return subprocess.run(["local/text_conditioning.sh", "--models", "lst", "--sets", "test", *args], cwd=recipe,
                          env={**__import__("os").environ, "LST_ROOT": str(REPO_ROOT), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)


def test_own_and_rotated_transcripts_are_scored(tmp_path):
    recipe = make_recipe(tmp_path)
    proc = run(recipe)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    out = recipe / "exp" / "text_conditioning"
    # every clip keeps its units and gets the next clip's transcript (id order, the last the first's)
    rotated = dict(line.split(" ", 1) for line in (out / "lst" / "test_rotated" / "text").read_text().splitlines())
    assert rotated == {"a1": TEXT["b2"], "b2": TEXT["c3"], "c3": TEXT["a1"]}
    own = (recipe / "dump" / "corpus" / "pkg_lst_t2s" / "test" / "seqs").read_text().splitlines()
    rot = (out / "lst" / "test_rotated" / "seqs").read_text().splitlines()
    assert len(own) == len(rot) == 3 and own != rot
    # t2s_<id> <t> <text pieces> <s> <units>: the same ids and units, other text
    assert [line.split(" ", 1)[0] for line in own] == [line.split(" ", 1)[0] for line in rot] == [
        "t2s_a1", "t2s_b2", "t2s_c3"]
    assert [line.split(" <s> ")[1] for line in own] == [line.split(" <s> ")[1] for line in rot]
    text_of = [line.split(" <s> ")[0].split(" ", 1)[1] for line in own]
    assert [line.split(" <s> ")[0].split(" ", 1)[1] for line in rot] == text_of[1:] + text_of[:1]
    rows = json.loads((out / "lst" / "RESULTS.json").read_text())
    nll = {r["set"]: r["speech_nll"] for r in rows if r["kind"] == "t2s"}
    (summary,) = json.loads((out / "summary.json").read_text())
    assert (summary["model"], summary["set"], summary["sequences"], summary["speech_units"]) == ("lst", "test", 3, 36)
    assert summary["speech_nll_own_text"] == round(nll["test"], 4)
    assert summary["speech_nll_rotated_text"] == round(nll["test_rotated"], 4)
    assert summary["text_gain_nats_per_unit"] == round(nll["test_rotated"] - nll["test"], 4)
    assert nll["test"] != nll["test_rotated"]  # a random model still reads the text a little
    assert "| lst | test | 3 | 36 |" in proc.stdout and (out / "summary.md").read_text() in proc.stdout


@pytest.mark.parametrize("opts,suffix", [(["--lm_text_case", "lower"], "_lower"),
                                         (["--text_frontend", "phones"], "_phones")])
def test_transformed_corpora_get_their_own_rotated_text(tmp_path, opts, suffix):
    """--lm_text_case lower / --text_frontend phones (tts.sh's corpora of lower-cased or phonemized
    transcripts, dump/corpus/pkg_<m>_t2s<suffix>, with the transcripts kept beside them)."""
    from lst.bin.build_corpus import main as build_corpus

    recipe = make_recipe(tmp_path)
    units = recipe / "dump" / "units" / "pkg_lst" / "test"
    corpus = recipe / "dump" / "corpus" / f"pkg_lst_t2s{suffix}" / "test"
    corpus.mkdir(parents=True)
    # a stand-in for the transform: lower case, or the words reversed (what the model read, not the raw text)
    transform = (lambda t: t.lower()) if suffix == "_lower" else (lambda t: " ".join(reversed(t.split())))
    (corpus / "text").write_text("".join(f"{u} {transform(w)}\n" for u, w in TEXT.items()))
    assert build_corpus(["--units", str(units / "units"), "--unit_info", str(units / "unit_info.json"),
                         "--text", str(corpus / "text"), "--bpe_model", str(recipe / "exp" / "pretrained_lst" / "bpe.model"),
                         "--kinds", "t2s", "--out", str(corpus / "seqs")]) == 0
    proc = run(recipe, "--lm_text_case", "upper")
    assert proc.returncode != 0 and "--lm_text_case must be keep or lower, got 'upper'" in proc.stderr
    proc = run(recipe, "--text_frontend", "letters")
    assert proc.returncode != 0 and "--text_frontend must be words or phones, got 'letters'" in proc.stderr
    proc = run(recipe, *opts)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rotated = (recipe / "exp" / "text_conditioning" / "lst" / "test_rotated" / "text").read_text().splitlines()
    assert rotated == [f"a1 {transform(TEXT['b2'])}", f"b2 {transform(TEXT['c3'])}", f"c3 {transform(TEXT['a1'])}"]
    (summary,) = json.loads((recipe / "exp" / "text_conditioning" / "summary.json").read_text())
    assert summary["sequences"] == 3 and summary["speech_units"] == 36


def test_one_utterance_cannot_be_rotated_and_a_missing_model_is_named(tmp_path):
    recipe = make_recipe(tmp_path, {"a1": TEXT["a1"]})
    proc = run(recipe)
    assert proc.returncode != 0 and "needs >= 2 utterances to rotate transcripts" in proc.stderr
    assert "dump/raw/test/text: cannot rotate its transcripts" in proc.stderr
    (recipe / "exp" / "tts_lst" / "valid.loss.best.pth").unlink()
    proc = run(recipe)
    assert proc.returncode != 0 and "exp/tts_lst/valid.loss.best.pth" in proc.stdout + proc.stderr
