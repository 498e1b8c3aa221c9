"""The TTS phone front-end: CMU-dictionary lookup (first pronunciation, no stress marks, tokens
split and cleaned as the forced aligner does), unknown words kept as spelled and counted, and the
CLI's one-line errors."""
import json

import pytest

from lst.tts.g2p import CmuG2P, phonemize_lines


@pytest.fixture
def small_dict(tmp_path):
    p = tmp_path / "small.dic"
    p.write_text("the DH AH\nthe(2) DH IY\ncat K AE1 T\nforty F AO R T IY\neight EY T\n")
    return str(p)


def test_lookup_first_pronunciation_and_unknown_words(small_dict):
    g2p = CmuG2P(small_dict)
    phones, oov = g2p.phonemize("The cat, FORTY-EIGHT Zyx")
    assert phones == ["DH", "AH", "K", "AE", "T", "F", "AO", "R", "T", "IY", "EY", "T", "ZYX"]
    assert oov == ["zyx"]
    lines, counts = phonemize_lines(g2p, [("u1", "THE CAT"), ("u2", "ZYX ZYX THE"), ("u3", "")])
    assert lines == [("u1", "DH AH K AE T"), ("u2", "ZYX ZYX DH AH"), ("u3", "")]
    assert counts == {"zyx": 2}


def test_the_shipped_dictionary_covers_common_words():
    g2p = CmuG2P()  # pocketsphinx's en-us dictionary
    phones, oov = g2p.phonemize("THE PRINTING OF BOOKS")
    assert phones[:2] == ["DH", "AH"] and not oov and all(p.isalpha() and p.isupper() for p in phones)


def test_cli(tmp_path, small_dict, caplog):
    from lst.bin.phonemize import main

    caplog.set_level("INFO")
    (tmp_path / "text").write_text("b THE CAT\na QQQ THE\n")
    out = tmp_path / "out" / "text"
    assert main(["--text", str(tmp_path / "text"), "--out", str(out), "--dictionary", small_dict]) == 0
    assert out.read_text() == "b DH AH K AE T\na QQQ DH AH\n"
    oov = json.loads((tmp_path / "out" / "text.oov.json").read_text())
    assert oov == {"n_utts": 2, "n_oov_tokens": 1, "oov": {"qqq": 1}}
    assert "1 word tokens not in" in caplog.text and "qqq (1)" in caplog.text
    bad = tmp_path / "bad.dic"
    bad.write_text("the DH AH\nlonely\n")
    caplog.clear()
    assert main(["--text", str(tmp_path / "text"), "--out", str(out), "--dictionary", str(bad)]) == 1
    assert f"{bad}:2: entry 'lonely' has no phones" in caplog.text
    (tmp_path / "latin1").write_bytes(b"a caf\xe9\n")
    caplog.clear()
    assert main(["--text", str(tmp_path / "latin1"), "--out", str(out), "--dictionary", small_dict]) == 1
    assert "latin1" in caplog.text
