"""The joint speech-text vocabulary shared by every model.

Layout of ``token_list`` (one token per line, id = line number, the ESPnet convention)::

    0 <blank>      padding, never predicted
    1 <unk>
    2 <sos/eos>    sequence start and end
    3 <t>          switch to text  (SpiritLM-style modality markers)
    4 <s>          switch to speech
    5 ...          text BPE pieces (sentencepiece order, its own <unk> mapped to ours)
    ... <u0> ... <u{K-1}>   speech units, K = number of k-means clusters

Both the token baseline and LST read the same token_list, so a corpus, a checkpoint's
vocabulary and a benchmark file are interchangeable between the two models.
"""
from pathlib import Path
from typing import Iterable, List, Sequence

BLANK, UNK, SOS_EOS, TEXT_MARK, SPEECH_MARK = "<blank>", "<unk>", "<sos/eos>", "<t>", "<s>"
SPECIAL_TOKENS = [BLANK, UNK, SOS_EOS, TEXT_MARK, SPEECH_MARK]
BLANK_ID, UNK_ID, SOS_EOS_ID, TEXT_MARK_ID, SPEECH_MARK_ID = range(5)


def unit_token(unit: int) -> str:
    return f"<u{unit}>"


def build_token_list(bpe_pieces: Iterable[str], n_units: int) -> List[str]:
    pieces = [p for p in bpe_pieces if p not in ("<unk>", "<s>", "</s>", "<pad>")]
    return SPECIAL_TOKENS + pieces + [unit_token(u) for u in range(n_units)]


def write_token_list(tokens: Sequence[str], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def read_token_list(path) -> List[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


class SpeechTextVocab:
    """Maps BPE pieces and unit ids to joint ids; knows which ids are speech units."""

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"token_list must start with {SPECIAL_TOKENS}, got {list(tokens[:5])}")
        self.tokens = list(tokens)
        self.token2id = {t: i for i, t in enumerate(self.tokens)}
        if len(self.token2id) != len(self.tokens):
            raise ValueError("token_list has duplicate tokens")
        first_unit = next((i for i, t in enumerate(self.tokens) if t == "<u0>"), len(self.tokens))
        self.unit_offset = first_unit
        self.n_units = len(self.tokens) - first_unit
        for u in range(self.n_units):
            if self.tokens[first_unit + u] != unit_token(u):
                raise ValueError(f"token_list: expected {unit_token(u)} at line {first_unit + u + 1}")
        self.text_offset = len(SPECIAL_TOKENS)
        self.n_text = first_unit - self.text_offset

    @classmethod
    def from_file(cls, path) -> "SpeechTextVocab":
        return cls(read_token_list(path))

    def __len__(self) -> int:
        return len(self.tokens)

    def unit_id(self, unit: int) -> int:
        if not 0 <= unit < self.n_units:
            raise ValueError(f"unit id {unit} out of range [0, {self.n_units})")
        return self.unit_offset + unit

    def piece_id(self, piece: str) -> int:
        return self.token2id.get(piece, UNK_ID)

    def is_unit(self, token_id: int) -> bool:
        return token_id >= self.unit_offset
