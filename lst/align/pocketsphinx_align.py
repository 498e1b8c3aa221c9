"""Word and phone timings for recorded speech by forced alignment with CMU PocketSphinx.

PocketSphinx 5 (BSD; its PyPI wheel ships the US-English HMM acoustic model and the CMU
dictionary, runs offline, no training here) aligns a known transcript to 16 kHz audio in two
passes: ``set_align_text`` + decode gives the word path (optional silences between words),
``set_alignment`` + a second decode gives the phone/HMM-state segmentation inside it.
Frames are 10 ms; a segment of frames ``[s, s + d)`` is ``[s / 100, (s + d) / 100)`` seconds.

    aligner = PocketSphinxAligner()
    ali = aligner.align(audio, "RUBOUT G M E F THREE NINE".split(), utt="fcaw-an406-b")
    ali.words   # [WordTiming("RUBOUT", 0.30, 1.25), ...]  one per transcript token, spoken order
    ali.phones  # [WordTiming("sil", 0.0, 0.30), WordTiming("R", 0.30, 0.42), ...]  contiguous

Transcript tokens keep their spelling in the output; for the dictionary each token is
lower-cased, stripped of characters other than letters, digits and apostrophes, and split at
hyphens ("forty-eight" -> "forty" "eight": one output word spanning both). A token with no
dictionary entry (or nothing left after normalising) raises :class:`AlignError` naming the
utterance and the word, as does empty/too-short audio or a failed alignment; callers count
and log those as skips. Phone labels are the model's ARPAbet phones without stress; silence
and filler segments are ``sil`` (the label espeak-ng phone spans use, lst.tts.espeak).
"""
import logging
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lst.data.timings import WordTiming

logger = logging.getLogger("lst.ps_align")

SAMPLE_RATE = 16000
FRAME_RATE = 100  # pocketsphinx frames per second (10 ms shift)
DEFAULT_BEAMS = (1e-48, 1e-100, 1e-250)
SILENCE = "sil"
_NON_DICT = re.compile(r"[^a-z0-9'\-]+")
_SIL_WORDS = {"<s>", "</s>", "<sil>"}


class AlignError(ValueError):
    """An utterance that cannot be aligned; the message names the utterance (and word)."""


@dataclass
class Alignment:
    utt: str
    words: List[WordTiming]  # one per transcript token, in order, non-overlapping
    phones: List[WordTiming] = field(default_factory=list)  # contiguous from 0, ``.word`` = phone


def dict_words(token: str) -> List[str]:
    """Dictionary words a transcript token is spoken as: "Forty-eight," -> ["forty", "eight"]."""
    t = _NON_DICT.sub("", token.lower().replace("\u2019", "'"))
    return [p.strip("'") for p in t.split("-") if p.strip("'")]


def _is_silence(name: str) -> bool:
    return name in _SIL_WORDS or name == "SIL" or (name.startswith("+") and name.endswith("+"))


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Mono float in [-1, 1] (or int16) -> int16 PCM."""
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        return audio
    return (np.clip(audio.astype(np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)


class PocketSphinxAligner:
    """Pocketsphinx decoders in alignment mode; ``align`` one utterance at a time.

    ``hmm`` / ``dict``: model files (default: the wheel's en-us acoustic model and CMU
    dictionary). ``extra_dict``: a second pronunciation dictionary (CMU format, e.g. AN4's
    ``etc/an4.dic``) whose words are added when the main one lacks them. ``beams``: the
    pruning beams tried in turn (one decoder each, made when first needed): pocketsphinx's
    default 1e-48 suits AN4 (every utterance aligned) but loses the path on long utterances
    and on speech unlike its training data, e.g. espeak-ng's ("Final result does not match the
    grammar"); the wider beams find it at a few times the cost.
    """

    def __init__(self, hmm: Optional[str] = None, dict: Optional[str] = None,
                 extra_dict: Optional[str] = None, beams: Sequence[float] = DEFAULT_BEAMS):
        self.model = {k: v for k, v in (("hmm", hmm), ("dict", dict)) if v}
        self.beams = tuple(beams)
        self._decoders: Dict[float, object] = {}
        self._added: Dict[str, str] = {}
        self.n_retried = 0  # utterances aligned only with a wider beam
        self.decoder = self._decoder(self.beams[0])
        if extra_dict:
            self.add_dictionary(extra_dict)

    @property
    def n_added(self) -> int:
        return len(self._added)

    def _decoder(self, beam: float):
        if beam not in self._decoders:
            from pocketsphinx import Decoder

            # bestpath off: its lattice segmentation can give a phone fewer frames than its HMM
            # has states, and the second (phone) pass then fails (pocketsphinx PR #500; its CLI
            # does the same)
            dec = Decoder(loglevel="FATAL", lm=None, bestpath=False, beam=beam, pbeam=beam, wbeam=beam,
                          **self.model)
            for i, (word, phones) in enumerate(self._added.items()):
                dec.add_word(word, phones, i == len(self._added) - 1)
            self._decoders[beam] = dec
        return self._decoders[beam]

    def add_dictionary(self, path: str) -> int:
        """Add the words of a CMU-format dictionary (``WORD[(n)] PH PH ...``) that are missing."""
        missing: Dict[str, str] = {}
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if not parts or line.startswith(";;;"):
                    continue
                word = re.sub(r"\(\d+\)$", "", parts[0]).lower()
                if len(parts) < 2:
                    raise AlignError(f"{path}:{lineno}: dictionary entry {parts[0]!r} has no phones")
                if word not in missing and self.decoder.lookup_word(word) is None:
                    missing[word] = " ".join(parts[1:])  # first pronunciation only
        for dec in self._decoders.values():
            for i, (word, phones) in enumerate(missing.items()):
                dec.add_word(word, phones, i == len(missing) - 1)  # update once, at the end
        self._added.update(missing)
        n = len(missing)
        logger.info("%s: %d words added to the pronunciation dictionary", path, n)
        return n

    def oov(self, tokens: Sequence[str]) -> List[str]:
        """Tokens that cannot be spoken with the dictionary."""
        bad = []
        for tok in tokens:
            parts = dict_words(tok)
            if not parts or any(self.decoder.lookup_word(p) is None for p in parts):
                bad.append(tok)
        return bad

    @staticmethod
    def _decode(dec, pcm: bytes) -> None:
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()

    def _two_pass(self, dec, text: str, pcm: bytes):
        """Word pass then phone pass; the phone alignment, or None when a pass fails."""
        try:
            dec.set_align_text(text)
            self._decode(dec, pcm)
            if dec.hyp() is None:
                return None
            dec.set_alignment()
            self._decode(dec, pcm)
            return dec.get_alignment()
        except RuntimeError:
            return None

    def align(self, audio: np.ndarray, tokens: Sequence[str], utt: str = "?") -> Alignment:
        """Word and phone timings of ``tokens`` in ``audio`` (16 kHz mono float or int16)."""
        tokens = list(tokens)
        if not tokens:
            raise AlignError(f"utterance {utt}: empty transcript")
        bad = self.oov(tokens)
        if bad:
            raise AlignError(f"utterance {utt}: word(s) not in the pronunciation dictionary: "
                             + " ".join(repr(b) for b in bad[:5]))
        pcm = to_pcm16(audio)
        if pcm.ndim != 1:
            raise AlignError(f"utterance {utt}: expected mono audio, got shape {pcm.shape}")
        n_frames = len(pcm) * FRAME_RATE // SAMPLE_RATE
        parts = [dict_words(t) for t in tokens]
        n_dict = sum(len(p) for p in parts)
        if n_frames < 3 * n_dict:  # every phone needs >= 3 frames; 3 per word is a hard floor
            raise AlignError(f"utterance {utt}: audio too short ({len(pcm) / SAMPLE_RATE:.2f} s) "
                             f"for {len(tokens)} words")
        text, data, ali = " ".join(w for p in parts for w in p), pcm.tobytes(), None
        for i, beam in enumerate(self.beams):
            ali = self._two_pass(self._decoder(beam), text, data)
            if ali is not None:
                self.n_retried += i > 0
                break
        if ali is None:
            raise AlignError(f"utterance {utt}: pocketsphinx found no alignment of the transcript "
                             f"(beams {', '.join(f'{b:g}' for b in self.beams)})")
        seg_words: List[Tuple[str, float, float]] = []
        phones: List[WordTiming] = []
        for w in ali:
            start, end = w.start / FRAME_RATE, (w.start + w.duration) / FRAME_RATE
            if not _is_silence(w.name):
                seg_words.append((w.name, start, end))
            for p in w:
                label = SILENCE if _is_silence(p.name) else p.name
                s, e = p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE
                if e <= s:
                    continue
                if phones and phones[-1].word == label == SILENCE and abs(phones[-1].end - s) < 1e-9:
                    phones[-1] = WordTiming(label, phones[-1].start, e)
                else:
                    phones.append(WordTiming(label, s, e))
        if len(seg_words) != n_dict:
            raise AlignError(f"utterance {utt}: alignment has {len(seg_words)} words, transcript {n_dict}")
        if phones and phones[0].start > 0:
            phones.insert(0, WordTiming(SILENCE, 0.0, phones[0].start))
        words, k = [], 0
        for tok, p in zip(tokens, parts):
            words.append(WordTiming(tok, seg_words[k][1], seg_words[k + len(p) - 1][2]))
            k += len(p)
        return Alignment(utt=utt, words=words, phones=phones)


