"""The espeak-ng voices and speaking rates of synthetic training corpora, and the held-out
voice/rate that spoken benchmarks use (never trained on).

One place for both sides: the corpus builder (``egs/rocstories/lst1/local/prepare_data.py``)
speaks training audio only in ``TRAINING_VOICES`` x ``TRAINING_RATES`` and refuses the
held-out ones; the benchmark builder (``lst.bin.make_benchmark``) speaks every item in
``HELDOUT_VOICE`` at ``HELDOUT_RATE`` and refuses a training voice or rate. A test builds a
toy training corpus with the recipe and checks that the held-out voice never appears in it.
"""
from typing import Iterable, Sequence

TRAINING_VOICES = ("en-us", "en-us+f3", "en", "en-gb-scotland+m3")
TRAINING_RATES = (140, 175, 210)  # words per minute
HELDOUT_VOICE = "en-029+f4"  # Caribbean English, female variant 4
HELDOUT_RATE = 160  # between two training rates, equal to none


def check_training_voices(voices: Iterable[str], rates: Iterable[int], where: str = "") -> None:
    """Raise ValueError if a training voice/rate is the held-out one."""
    voices, rates = list(voices), [int(r) for r in rates]
    prefix = f"{where}: " if where else ""
    if HELDOUT_VOICE in voices:
        raise ValueError(f"{prefix}{HELDOUT_VOICE} is the held-out benchmark voice (lst.tts.voices); never train on it")
    if HELDOUT_RATE in rates:
        raise ValueError(f"{prefix}{HELDOUT_RATE} wpm is the held-out benchmark rate (lst.tts.voices); never train on it")


def check_heldout_voice(voice: str, rate: int, training_voices: Sequence[str] = TRAINING_VOICES,
                        training_rates: Sequence[int] = TRAINING_RATES, where: str = "") -> None:
    """Raise ValueError if a benchmark voice or rate is one used in training."""
    prefix = f"{where}: " if where else ""
    if voice in training_voices:
        raise ValueError(f"{prefix}voice {voice!r} is a training voice {tuple(training_voices)}; benchmarks need a "
                         f"held-out one (default {HELDOUT_VOICE})")
    if int(rate) in [int(r) for r in training_rates]:
        raise ValueError(f"{prefix}rate {rate} wpm is a training rate {tuple(training_rates)}; benchmarks need a "
                         f"held-out one (default {HELDOUT_RATE})")
