"""LJ Speech data preparation (egs/ljspeech/lst1/local/data_prep.py): split, ids, text."""
import importlib.util

import pytest
import soundfile

from conftest import REPO_ROOT, SHARED

LJ = SHARED / "data" / "ljspeech" / "LJSpeech-1.1"


def load_prep():
    spec = importlib.util.spec_from_file_location("lj_data_prep", REPO_ROOT / "egs/ljspeech/lst1/local/data_prep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read(path):
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


@pytest.mark.skipif(not (LJ / "metadata.csv").exists(), reason=f"{LJ} not present")
def test_shared_subset_split_ids_and_text(tmp_path):
    prep = load_prep()
    counts = prep.prepare(LJ, tmp_path)
    assert counts == {"train": 325, "valid": 20, "test": 40}
    train, valid, test = (read(tmp_path / s / "text") for s in ("train", "valid", "test"))
    assert list(train)[0] == "LJ001-0001" and list(test)[0] == "LJ002-0161" and list(test)[-1] == "LJ002-0200"
    assert max(train) < min(valid) and max(valid) < min(test)  # contiguous blocks in id order
    assert train["LJ001-0002"] == "IN BEING COMPARATIVELY MODERN"
    assert all(t == t.upper() and "," not in t and "." not in t for t in test.values())
    assert set(read(tmp_path / "test" / "utt2spk").values()) == {"LJ"}
    wav, sr = soundfile.read(read(tmp_path / "test" / "wav.scp")["LJ002-0161"])
    assert sr == 22050 and len(wav) > sr


def test_toy_corpus_and_bad_metadata(tmp_path):
    prep = load_prep()
    lj = tmp_path / "LJSpeech-1.1"
    (lj / "wavs").mkdir(parents=True)
    rows = [f"LJ009-{i:04d}|Raw {i}.|Mr. Smith's clip number {i}." for i in range(1, 8)]
    (lj / "metadata.csv").write_text("\n".join(rows) + "\n")
    for i in range(1, 7):  # clip 7 has text but no audio: not used
        soundfile.write(lj / "wavs" / f"LJ009-{i:04d}.wav", [0.0] * 220, 22050)
    assert prep.prepare(lj, tmp_path / "data", nvalid=1, ntest=2) == {"train": 3, "valid": 1, "test": 2}
    assert read(tmp_path / "data" / "train" / "text")["LJ009-0001"] == "MR SMITH'S CLIP NUMBER 1"
    assert prep.prepare(lj, tmp_path / "toy", nvalid=1, ntest=1, max_utts=3) == {"train": 1, "valid": 1, "test": 1}
    with pytest.raises(prep.PrepError, match="leave no training clips"):
        prep.prepare(lj, tmp_path / "x", nvalid=3, ntest=3)
    (lj / "metadata.csv").write_text(rows[0] + "\nLJ009-0002|only two fields\n")
    with pytest.raises(prep.PrepError, match=r"metadata.csv:2: expected 'id\|raw text\|normalized text'"):
        prep.prepare(lj, tmp_path / "y")
