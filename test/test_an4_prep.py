"""AN4 data preparation (egs/an4/lst1/local/data_prep.py) on a few utterances of the shared
archive: ids, transcripts, speakers, the ESPnet dev split, SPHERE reading."""
import importlib.util
import tarfile

import pytest
import soundfile

from conftest import REPO_ROOT, SHARED

ARCHIVE = SHARED / "data" / "an4" / "an4_sphere.tar.gz"
pytestmark = pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present")

# (file name, transcription line as CMU wrote it)
TRAIN = [("an251-fash-b", "<s> YES </s> (an251-fash-b)"),
         ("an253-fash-b", "<s> GO </s> (an253-fash-b)"),
         ("cen1-fash-b", None), ("an86-fbbh-b", None), ("an87-fbbh-b", None)]
TEST = [("an406-fcaw-b", "RUBOUT G M E F THREE NINE (an406-fcaw-b)"), ("cen1-fcaw-b", None)]


def load_prep():
    spec = importlib.util.spec_from_file_location("an4_data_prep", REPO_ROOT / "egs/an4/lst1/local/data_prep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def an4_subset(tmp_path_factory):
    """The archive's etc/ and a handful of SPHERE files, transcriptions cut to those files."""
    root = tmp_path_factory.mktemp("an4")
    wanted = {f"an4/wav/an4_clstk/{n.split('-')[1]}/{n}.sph" for n, _ in TRAIN}
    wanted |= {f"an4/wav/an4test_clstk/{n.split('-')[1]}/{n}.sph" for n, _ in TEST}
    with tarfile.open(ARCHIVE) as tar:
        members = [m for m in tar if m.name.startswith("an4/etc/an4_") or m.name in wanted]
        tar.extractall(root, members=members, filter="data")
    an4 = root / "an4"
    for split, keep in (("train", TRAIN), ("test", TEST)):
        path = an4 / "etc" / f"an4_{split}.transcription"
        names = {n for n, _ in keep}
        lines = [ln for ln in path.read_text().splitlines() if ln.rsplit("(", 1)[-1].rstrip(")") in names]
        assert len(lines) == len(keep)
        path.write_text("\n".join(lines) + "\n")
    return an4


def read(path):
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_archive_lines_are_parsed_as_cmu_wrote_them(an4_subset):
    prep = load_prep()
    lines = (an4_subset / "etc" / "an4_train.transcription").read_text().splitlines()
    lines += (an4_subset / "etc" / "an4_test.transcription").read_text().splitlines()
    for name, line in TRAIN + TEST:
        if line is not None:
            assert line in lines
    assert prep.parse_line("<s> GO </s> (an253-fash-b)", "x") == ("fash-an253-b", "fash", "an253-fash-b", "GO")
    assert prep.parse_line("rubout g m (an406-fcaw-b)", "x")[3] == "RUBOUT G M"


def test_kaldi_dirs_ids_transcripts_speakers_and_dev_split(an4_subset, tmp_path):
    prep = load_prep()
    counts = prep.prepare(an4_subset, tmp_path / "data", ndev_utt=2)
    assert counts == {"train": 3, "dev": 2, "test": 2}
    dev, train, test = (read(tmp_path / "data" / s / "text") for s in ("dev", "train", "test"))
    # dev = the first utterances in sorted id order (ESPnet's subset_data_dir.sh --first)
    all_train = sorted([*dev, *train])
    assert list(dev) == all_train[:2] and list(train) == all_train[2:]
    assert dev == {"fash-an251-b": "YES", "fash-an253-b": "GO"}
    assert test["fcaw-an406-b"] == "RUBOUT G M E F THREE NINE"
    assert all(t == t.upper() and t.strip() for t in {**train, **test}.values())
    u2s = read(tmp_path / "data" / "train" / "utt2spk")
    assert u2s == {u: u.split("-")[0] for u in train} and set(u2s.values()) == {"fash", "fbbh"}
    s2u = read(tmp_path / "data" / "test" / "spk2utt")
    assert s2u == {"fcaw": "fcaw-an406-b fcaw-cen1-b"}


def test_sphere_audio_is_read_by_soundfile(an4_subset, tmp_path):
    prep = load_prep()
    prep.prepare(an4_subset, tmp_path / "data", ndev_utt=2)
    for path in read(tmp_path / "data" / "test" / "wav.scp").values():
        assert path.endswith(".sph")
        wav, sr = soundfile.read(path)
        assert sr == 16000 and wav.ndim == 1 and 0.5 < len(wav) / sr < 20
        assert 0.001 < abs(wav).max() <= 1.0


def test_bad_line_names_file_and_line(an4_subset, tmp_path):
    prep = load_prep()
    bad = tmp_path / "an4"
    (bad / "etc").mkdir(parents=True)
    (bad / "etc" / "an4_train.transcription").write_text("\nNO ID HERE\n")
    with pytest.raises(prep.PrepError, match=r"an4_train.transcription:2: cannot parse"):
        prep.read_split(bad, "train")
    (bad / "etc" / "an4_train.transcription").write_text("<s> YES </s> (an251-fash-b)\n")
    with pytest.raises(prep.PrepError, match=r"an4_train.transcription:1: audio .*an251-fash-b.sph not found"):
        prep.read_split(bad, "train")
