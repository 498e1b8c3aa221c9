"""An independent speech recognizer for scoring intelligibility: CMU PocketSphinx.

PocketSphinx (BSD) is a recognizer nobody in this project trained: its PyPI wheel ships the
US-English acoustic model, a general-English 3-gram LM and the CMU dictionary and runs
offline, so the WER it gives TTS output or vocoder resynthesis measures how intelligible the
audio is to an outside listener, not how well it matches a recipe's own ASR.

    rec = PocketSphinxRecognizer()                 # the wheel's en-us model
    text = rec.transcribe(wav, sr)                  # any rate; resampled to 16 kHz
    scores = score_texts(refs, hyps)                # one normaliser for both sides, jiwer WER/CER

A domain LM and dictionary can replace the general ones (``RecognizerConfig(lm=..., dict=...)``,
e.g. AN4's own ``etc/an4.ug.lm`` and ``etc/an4.dic``).
"""
import logging
import re
import time
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

logger = logging.getLogger("lst.recognizer")

SAMPLE_RATE = 16000
_APOSTROPHES = re.compile(r"[\u2018\u2019`]")
_NON_WORD = re.compile(r"[^A-Z0-9' ]+")
_EDGE_QUOTES = re.compile(r"(?<![A-Z0-9])'|'(?![A-Z0-9])")


def normalize_text(text: str) -> str:
    """The one text normaliser for references and hypotheses.

    Upper-case; curly apostrophes made straight; every character other than letters, digits
    and word-internal apostrophes (hyphens, punctuation, quotes) becomes a space; spaces
    collapsed. "Printing, in the only sense" -> "PRINTING IN THE ONLY SENSE";
    "jailer's  twenty-one" -> "JAILER'S TWENTY ONE".
    """
    t = _APOSTROPHES.sub("'", text.upper())
    t = _NON_WORD.sub(" ", t)
    t = _EDGE_QUOTES.sub(" ", t)
    return " ".join(t.split())


def score_texts(refs: Dict[str, str], hyps: Dict[str, str]) -> Dict:
    """Corpus WER/CER (percent) over the references, after ``normalize_text`` on both sides;
    a missing hypothesis counts as empty."""
    from lst.downstream.score import wer_cer

    return wer_cer({u: normalize_text(t) for u, t in refs.items()},
                   {u: normalize_text(t) for u, t in hyps.items()})


@dataclass
class RecognizerConfig:
    """Model files; ``None`` takes the one shipped in the pocketsphinx wheel (en-us)."""

    hmm: Optional[str] = None   # acoustic model directory
    lm: Optional[str] = None    # ARPA or binary n-gram LM
    dict: Optional[str] = None  # pronunciation dictionary
    beam: Optional[float] = None  # decoder beam (pocketsphinx default when None)


class PocketSphinxRecognizer:
    """One pocketsphinx decoder; ``transcribe`` one waveform at a time (not thread-safe)."""

    def __init__(self, config: RecognizerConfig = RecognizerConfig()):
        from pocketsphinx import Decoder

        kwargs = {"loglevel": "ERROR"}
        for key in ("hmm", "lm", "dict", "beam"):
            value = getattr(config, key)
            if value is not None:
                kwargs[key] = value
        self.config = config
        self.decoder = Decoder(**kwargs)
        self.decode_seconds = 0.0
        self.audio_seconds = 0.0

    def transcribe(self, wav: np.ndarray, sr: int) -> str:
        """Words recognised in mono float ``wav`` (any rate, values in [-1, 1]); '' when none."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"transcribe: expected a mono waveform, got shape {wav.shape}")
        t0 = time.perf_counter()
        if sr != SAMPLE_RATE:
            import soxr

            wav = soxr.resample(wav, sr, SAMPLE_RATE, quality="HQ")
        pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        self.decode_seconds += time.perf_counter() - t0
        self.audio_seconds += len(pcm) / SAMPLE_RATE
        return hyp.hypstr.strip() if hyp is not None else ""

    @property
    def rtf(self) -> float:
        """Decode seconds per second of audio so far."""
        return self.decode_seconds / max(self.audio_seconds, 1e-9)
