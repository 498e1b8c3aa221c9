"""Transcripts -> ARPAbet phone strings from a CMU-format pronunciation dictionary.

A TTS front-end, as ESPnet's TTS recipes use one (``--token_type phn --g2p g2p_en``): the model
reads phones instead of spelling, so it does not have to learn English spelling from the few
hundred clips a CPU recipe trains on. The dictionary defaults to the CMU dictionary shipped in
the pocketsphinx wheel (the recognizer and forced aligner of this toolkit, so nothing is
downloaded); its phones carry no stress marks, like the phone classes of
``--feature_type phone_posterior`` units. A word is spoken as its first pronunciation;
``Forty-eight,`` is split and cleaned as the forced aligner does (`dict_words`). A word the
dictionary lacks keeps its spelling (upper case) in the output and is counted, so nothing is
dropped silently.
"""
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

_VARIANT = re.compile(r"\(\d+\)$")


def default_dictionary() -> str:
    import pocketsphinx

    return os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")


class CmuG2P:
    def __init__(self, dictionary: Optional[str] = None):
        self.path = dictionary or default_dictionary()
        self.lexicon: Dict[str, List[str]] = {}
        with open(self.path, encoding="utf-8", errors="strict") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 2:
                    raise ValueError(f"{self.path}:{lineno}: entry {parts[0]!r} has no phones")
                word = _VARIANT.sub("", parts[0]).lower()
                # first pronunciation only; stress digits (CMUdict proper) dropped
                self.lexicon.setdefault(word, [re.sub(r"\d", "", p).upper() for p in parts[1:]])

    def phonemize(self, text: str) -> Tuple[List[str], List[str]]:
        """-> (output tokens: phones, or the spelling of a word not in the dictionary; those words)."""
        from lst.align.pocketsphinx_align import dict_words

        out, oov = [], []
        for token in text.split():
            for word in dict_words(token):
                phones = self.lexicon.get(word)
                if phones is None:
                    oov.append(word)
                    out.append(word.upper())
                else:
                    out.extend(phones)
        return out, oov


def phonemize_lines(g2p: CmuG2P, items: Sequence[Tuple[str, str]]) -> Tuple[List[Tuple[str, str]], Dict[str, int]]:
    """(utt, transcript) pairs -> (utt, phone string) pairs and the count of each unknown word."""
    out, oov = [], {}
    for utt, text in items:
        tokens, missing = g2p.phonemize(text)
        for w in missing:
            oov[w] = oov.get(w, 0) + 1
        out.append((utt, " ".join(tokens)))
    return out, oov
