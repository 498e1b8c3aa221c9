import pytest

from lst.vocab import (
    SOS_EOS_ID,
    SPECIAL_TOKENS,
    SPEECH_MARK_ID,
    TEXT_MARK_ID,
    UNK_ID,
    SpeechTextVocab,
    build_token_list,
    read_token_list,
    write_token_list,
)


def test_layout(tiny_token_list):
    vocab = SpeechTextVocab(tiny_token_list)
    assert tiny_token_list[:5] == SPECIAL_TOKENS
    assert vocab.n_text == 6  # sentencepiece's own <unk> is folded into ours
    assert vocab.n_units == 10
    assert vocab.unit_offset == 5 + 6
    assert vocab.unit_id(0) == vocab.unit_offset and vocab.unit_id(9) == len(vocab) - 1
    assert vocab.piece_id("▁cat") == tiny_token_list.index("▁cat")
    assert vocab.piece_id("never-seen") == UNK_ID
    assert vocab.is_unit(vocab.unit_offset) and not vocab.is_unit(vocab.unit_offset - 1)
    assert (SOS_EOS_ID, TEXT_MARK_ID, SPEECH_MARK_ID) == (2, 3, 4)


def test_unit_out_of_range(tiny_token_list):
    vocab = SpeechTextVocab(tiny_token_list)
    with pytest.raises(ValueError, match="out of range"):
        vocab.unit_id(10)


def test_round_trip_file(tmp_path, tiny_token_list):
    write_token_list(tiny_token_list, tmp_path / "tokens.txt")
    assert read_token_list(tmp_path / "tokens.txt") == tiny_token_list


def test_rejects_bad_lists(tiny_token_list):
    with pytest.raises(ValueError, match="must start with"):
        SpeechTextVocab(["<unk>"] + tiny_token_list)
    broken = list(tiny_token_list)
    broken[-1] = "<u42>"
    with pytest.raises(ValueError, match="expected <u9>"):
        SpeechTextVocab(broken)
    assert len(build_token_list(["a", "a"], 0)) == 7
    with pytest.raises(ValueError, match="duplicate"):
        SpeechTextVocab(build_token_list(["a", "a"], 0))
