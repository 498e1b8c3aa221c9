import numpy as np
import pytest

from lst.data.sequence_format import SequenceFormatError, Span, format_sequence, parse_sequence, sequence_kind
from lst.vocab import SOS_EOS_ID, SPEECH_MARK_ID, TEXT_MARK_ID, SpeechTextVocab


def test_format_and_parse_round_trip(tiny_token_list):
    vocab = SpeechTextVocab(tiny_token_list)
    line = format_sequence([Span("speech", [1, 1, 2, 3, 4], [2, 3]), Span("text", ["▁the", "▁cat"])])
    assert line == "<s> 1 1 | 2 3 4 <t> ▁the ▁cat"
    ids, seg = parse_sequence(line, vocab)
    u = vocab.unit_offset
    assert ids.tolist() == [SOS_EOS_ID, SPEECH_MARK_ID, u + 1, u + 1, u + 2, u + 3, u + 4,
                            TEXT_MARK_ID, vocab.piece_id("▁the"), vocab.piece_id("▁cat"), SOS_EOS_ID]
    # a segment starts at the first unit of the span and right after each "|"
    assert seg.tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert ids.dtype == np.int64 and seg.shape == ids.shape


def test_consecutive_speech_spans_each_start_a_segment(tiny_token_list):
    vocab = SpeechTextVocab(tiny_token_list)
    _, seg = parse_sequence("<s> 1 2 <s> 3", vocab)
    assert seg.tolist() == [0, 0, 1, 0, 0, 1, 0]


def test_errors_name_the_sequence(tiny_token_list):
    vocab = SpeechTextVocab(tiny_token_list)
    with pytest.raises(SequenceFormatError, match=r"corpus/x: s1: unit id 10 out of range"):
        parse_sequence("<s> 1 10", vocab, where="corpus/x: s1")
    with pytest.raises(SequenceFormatError, match="not a unit id"):
        parse_sequence("<s> 1 ▁a", vocab, where="s2")
    with pytest.raises(SequenceFormatError, match="must start with"):
        parse_sequence("▁a <s> 1", vocab, where="s3")
    with pytest.raises(SequenceFormatError, match="empty sequence"):
        parse_sequence("", vocab, where="s4")
    with pytest.raises(SequenceFormatError, match="do not sum"):
        format_sequence([Span("speech", [1, 2, 3], [1, 1])])


def test_sequence_kind():
    assert sequence_kind("s2t_fash-an251") == "s2t"
    assert sequence_kind("inter_story_3") == "inter"
