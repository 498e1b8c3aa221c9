import pytest

from lst.data.kaldi_dir import DataDirError, read_kaldi_map, validate_data_dir


def write_dir(d, wav, text, utt2spk, spk2utt=None):
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text(wav)
    (d / "text").write_bytes(text if isinstance(text, bytes) else text.encode())
    (d / "utt2spk").write_text(utt2spk)
    if spk2utt is not None:
        (d / "spk2utt").write_text(spk2utt)
    return d


def test_valid_dir(tmp_path):
    d = write_dir(tmp_path / "ok", "a-1 x.wav\na-2 y.wav\n", "a-1 HELLO\na-2 WORLD\n", "a-1 a\na-2 a\n", "a a-1 a-2\n")
    assert validate_data_dir(d) == {"utterances": 2, "speakers": 1}


@pytest.mark.parametrize(
    "wav,text,utt2spk,message",
    [
        ("a-1 x.wav\n", "a-1 HI\na-2 THERE\n", "a-1 a\n", r"1 ids in .*text but not in .*wav.scp.*a-2"),
        ("a-1 x.wav\na-2 y.wav\n", "a-1 HI\na-2\n", "a-1 a\na-2 a\n", "1 empty transcripts.*a-2"),
        ("a-2 x.wav\na-1 y.wav\n", "a-2 HI\na-1 HO\n", "a-2 a\na-1 a\n", "not sorted"),
        ("a-1 x.wav\n", "a-1 HI\n", "a-1 a\na-9 a\n", "utt2spk but not in"),
    ],
)
def test_invalid_dirs(tmp_path, wav, text, utt2spk, message):
    d = write_dir(tmp_path / "bad", wav, text, utt2spk)
    with pytest.raises(DataDirError, match=message):
        validate_data_dir(d)


def test_duplicate_and_non_utf8_name_file_and_line(tmp_path):
    (tmp_path / "dup").write_text("a x\nb y\na z\n")
    with pytest.raises(DataDirError, match=r"dup:3: duplicate utterance id a"):
        read_kaldi_map(tmp_path / "dup")
    (tmp_path / "latin1").write_bytes("a ok\nb caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataDirError, match=r"latin1:2: not valid UTF-8"):
        read_kaldi_map(tmp_path / "latin1")


def test_missing_file(tmp_path):
    with pytest.raises(DataDirError, match="wav.scp not found"):
        validate_data_dir(tmp_path)


def test_cli_exit_codes(tmp_path):
    from lst.bin.validate_data_dir import main

    good = write_dir(tmp_path / "g", "a-1 x.wav\n", "a-1 HI\n", "a-1 a\n")
    bad = write_dir(tmp_path / "b", "a-1 x.wav\n", "a-2 HI\n", "a-1 a\n")
    assert main([str(good)]) == 0
    assert main([str(bad)]) == 1


def test_write_data_dir_sorts_and_validates(tmp_path):
    from lst.data.kaldi_dir import write_data_dir
    utts = [("b-2", "b", "/w/b2.wav", "WORLD"), ("a-1", "a", "/w/a1.wav", "HELLO THERE"), ("b-1", "b", "/w/b1.wav", "HI")]
    write_data_dir(tmp_path / "d", utts)
    assert validate_data_dir(tmp_path / "d") == {"utterances": 3, "speakers": 2}
    assert (tmp_path / "d" / "wav.scp").read_text() == "a-1 /w/a1.wav\nb-1 /w/b1.wav\nb-2 /w/b2.wav\n"
    assert (tmp_path / "d" / "text").read_text().splitlines()[0] == "a-1 HELLO THERE"
    assert (tmp_path / "d" / "spk2utt").read_text() == "a a-1\nb b-1 b-2\n"
