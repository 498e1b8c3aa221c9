"""espeak-ng speech synthesis with exact word timings from the synthesizer's own events.

We call ``libespeak-ng.so.1`` through ctypes in synchronous mode with phoneme events enabled.
espeak-ng reports, for every chunk of audio it produces, a list of events; each event carries
``sample`` (the index of the output sample at which it happens, at the library's native rate,
22050 Hz) and ``text_position`` (1-based character offset into the input text).

Word timing rule (exact, no acoustic estimation):

* start of a word = ``sample`` of the first WORD event whose text position falls inside the
  word's characters (espeak-ng may emit several WORD events for one token, e.g. "1990");
* end of a word = the ``sample`` of the next WORD event, or of the first pause phoneme
  (phoneme events whose mnemonic starts with ``_``: clause/sentence pauses) or END event
  after the word's start, whichever comes first. Pauses therefore become silence gaps
  between words; inside a clause espeak-ng joins words without gaps.
* espeak-ng speaks some word pairs as one phonological word with a single WORD event (e.g.
  "of the"; ~2.7% of StoryCloze words). The tokens after the first one then get no event of
  their own; the joined span is split at the phoneme onset (a PHONEME event, still an exact
  synthesizer time) nearest to the letter-proportional split point. These words are counted
  (``n_split_words``) and reported by the corpus builders (``lst.tts.speak``).
* espeak-ng sometimes repeats a stale text position at a sentence start; events whose text
  position points backwards are ignored (the right event follows a few ms later).

Times are ``sample / native_rate`` seconds, and the audio is resampled to the requested rate
(16 kHz) with a polyphase filter, which keeps the time axis, so the timings hold for the
resampled audio up to the filter's symmetric (zero-delay) response.

Only one voice/rate is active per process (the library holds global state); use one
:class:`EspeakSynthesizer` per process (multiprocessing workers each make their own).
"""
import ctypes
import ctypes.util
import os
import shutil
from dataclasses import dataclass, field
from math import gcd
from typing import List, Optional, Sequence, Tuple

import numpy as np

from lst.data.timings import WordTiming

INSTALL_HINT = "sudo apt-get install -y espeak-ng   (Debian/Ubuntu package 'espeak-ng', which ships libespeak-ng.so.1)"

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_MARK, _EV_PLAY, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = range(8)
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH = 1, 2, 3


class EspeakUnavailable(RuntimeError):
    pass


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union {int number; const char *name; char string[8];}
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def find_library() -> Optional[str]:
    env = os.environ.get("LST_ESPEAK_LIB")
    if env:
        return env
    for name in ("libespeak-ng.so.1", "libespeak-ng.so"):
        try:
            ctypes.CDLL(name)
            return name
        except OSError:
            pass
    return ctypes.util.find_library("espeak-ng")


def espeak_available() -> bool:
    return find_library() is not None


def require_espeak() -> None:
    if not espeak_available():
        raise EspeakUnavailable(f"espeak-ng library not found (libespeak-ng.so.1). Install it with: {INSTALL_HINT}")


@dataclass
class Synthesis:
    audio: np.ndarray  # float32 mono in [-1, 1] at ``sample_rate``
    sample_rate: int
    words: List[WordTiming]  # one per whitespace token of the input text
    # contiguous phone spans covering the whole audio (``.word`` holds the phone; see phone_spans)
    phones: List[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def tokenize_for_speech(text: str) -> List[str]:
    """Whitespace tokens, with tokens that have no letter/digit glued to the previous one.

    espeak-ng emits no word event for a bare punctuation token ("-", "..."), so such a token
    could never get a timing; gluing keeps "every text word has a timing" true.
    """
    out: List[str] = []
    for tok in text.split():
        if out and not any(c.isalnum() for c in tok):
            out[-1] = out[-1] + tok
        elif not out and not any(c.isalnum() for c in tok):
            out.append(tok)  # leading punctuation: kept, glued to the next token below
        else:
            if out and not any(c.isalnum() for c in out[-1]):
                tok = out.pop() + tok
            out.append(tok)
    return out


class EspeakSynthesizer:
    def __init__(self, sample_rate: int = 16000, lib_path: Optional[str] = None):
        require_espeak()
        self.lib = ctypes.CDLL(lib_path or find_library())
        self.native_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
        if self.native_rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed ({self.native_rate}); is espeak-ng-data installed?")
        self.sample_rate = int(sample_rate)
        self._chunks: List[np.ndarray] = []
        self._events: List[Tuple[int, int, int, bytes]] = []  # (type, text_position, sample, phoneme)
        self._cb = _CALLBACK(self._callback)  # keep a reference: the library calls it later
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        self.voice = None
        self.n_words = 0  # words timed so far
        self.n_split_words = 0  # of which had no own word event (split at a phoneme onset)

    def _callback(self, wav, n, events):
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            ph = bytes(ev.id).split(b"\0")[0] if ev.type == _EV_PHONEME else b""
            self._events.append((ev.type, ev.text_position, ev.sample, ph))
            i += 1
        return 0

    def set_voice(self, voice: str, rate_wpm: int = 175, pitch: Optional[int] = None) -> None:
        err = self.lib.espeak_SetVoiceByName(voice.encode())
        if err != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices=en`; variants as 'en-us+f3')")
        if self.lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0) != 0:
            raise ValueError(f"espeak-ng rejected rate {rate_wpm} wpm")
        if pitch is not None:
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        self.voice = (voice, rate_wpm, pitch)

    def _resample(self, x: np.ndarray) -> np.ndarray:
        if self.native_rate == self.sample_rate:
            return x
        from scipy.signal import resample_poly

        g = gcd(self.native_rate, self.sample_rate)
        return resample_poly(x, self.sample_rate // g, self.native_rate // g).astype(np.float32)

    def synthesize(self, text: str, utt: str = "?") -> Synthesis:
        """Speak ``text`` (its whitespace tokens, see :func:`tokenize_for_speech`) -> audio + word timings."""
        tokens = tokenize_for_speech(text)
        if not tokens:
            raise ValueError(f"utterance {utt}: empty text")
        spoken = " ".join(tokens)
        # character ranges of the tokens, 1-based like espeak's text_position
        ranges, pos = [], 1
        for tok in tokens:
            ranges.append((pos, pos + len(tok)))
            pos += len(tok) + 1
        self._chunks, self._events = [], []
        data = spoken.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        err = self.lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise RuntimeError(f"utterance {utt}: espeak_Synth failed with error {err}")
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        n_native = len(pcm)
        words = self._word_times(tokens, ranges, n_native, utt)
        phones = phone_spans(
            [(s, ph.decode("ascii", "replace")) for (t, _, s, ph) in self._events if t == _EV_PHONEME],
            n_native, self.native_rate)
        audio = self._resample(pcm.astype(np.float32) / 32768.0)
        return Synthesis(audio=np.clip(audio, -1.0, 1.0), sample_rate=self.sample_rate, words=words,
                         phones=phones)

    def _word_times(self, tokens, ranges, n_native, utt) -> List[WordTiming]:
        word_ev = [(tp, s) for (t, tp, s, _) in self._events if t == _EV_WORD]
        pauses = {s for (t, _, s, ph) in self._events if (t == _EV_PHONEME and ph.startswith(b"_")) or t == _EV_END}
        stops = np.asarray(sorted(pauses | {s for _, s in word_ev} | {n_native}))
        phone_starts = np.asarray(
            sorted({s for (t, _, s, ph) in self._events if t == _EV_PHONEME and not ph.startswith(b"_")})
        )
        first_start: List[Optional[int]] = [None] * len(tokens)
        last_start: List[Optional[int]] = [None] * len(tokens)
        j = 0
        for tp, s in word_ev:
            # espeak-ng sometimes repeats a stale (earlier) text position at a sentence start,
            # just before the right event: events that point backwards are ignored.
            k = j
            while k < len(ranges) and tp >= ranges[k][1]:
                k += 1
            if k < len(ranges) and ranges[k][0] <= tp < ranges[k][1]:
                if first_start[k] is None:
                    first_start[k] = s
                last_start[k] = s
                j = k
        if first_start[0] is None:
            raise RuntimeError(f"utterance {utt}: espeak-ng gave no word event for the first word {tokens[0]!r}")
        # tokens without an event were spoken inside the previous token's phonological word
        # (espeak-ng joins e.g. "of the"): group them with it and split at phoneme onsets.
        groups: List[List[int]] = []
        for k in range(len(tokens)):
            if first_start[k] is None:
                groups[-1].append(k)
            else:
                groups.append([k])
        out: List[WordTiming] = []
        for g in groups:
            s0, s1 = first_start[g[0]], last_start[g[0]]
            end = int(stops[np.searchsorted(stops, s1, side="right")]) if s1 < n_native else n_native
            end = max(end, s0)
            bounds = [s0]
            if len(g) > 1:
                self.n_split_words += len(g) - 1
                lengths = np.asarray([max(1, sum(c.isalnum() for c in tokens[k])) for k in g], dtype=float)
                fracs = np.cumsum(lengths)[:-1] / lengths.sum()
                cands = phone_starts[(phone_starts > s0) & (phone_starts < end)]
                for f in fracs:
                    target = s0 + f * (end - s0)
                    ok = cands[cands > bounds[-1]]
                    b = int(ok[np.argmin(np.abs(ok - target))]) if len(ok) else int(round(target))
                    bounds.append(max(b, bounds[-1]))
            bounds.append(end)
            for i, k in enumerate(g):
                out.append(WordTiming(tokens[k], bounds[i] / self.native_rate, bounds[i + 1] / self.native_rate))
        self.n_words += len(tokens)
        return out


SILENCE = "sil"


def phone_label(mnemonic: str) -> Optional[str]:
    """espeak-ng phoneme mnemonic -> phone label for unit metrics.

    Pauses (``_``, ``_:``, ``_!``...) become ``sil``; stress/variant digits are dropped
    (``I2`` -> ``I``, ``@2`` -> ``@``); ``;`` (a palatalisation mark, no sound of its own) and
    empty names give ``None``: the previous phone continues.
    """
    if mnemonic.startswith("_"):
        return SILENCE
    label = mnemonic.rstrip("0123456789").strip()
    return label if label and label != ";" else None


def phone_spans(events: Sequence[Tuple[int, str]], n_samples: int, rate: int) -> List[WordTiming]:
    """Contiguous phone spans from espeak-ng PHONEME events ``(sample, mnemonic)``.

    A phone lasts from its event's sample to the next phone's (or the end of the audio). The
    audio before the first phone is ``sil``; consecutive equal labels are merged. The spans
    cover ``[0, n_samples / rate)`` exactly, so every audio frame gets a label.
    """
    bounds: List[Tuple[int, str]] = [(0, SILENCE)]
    for sample, mnemonic in sorted(events, key=lambda e: e[0]):
        label = phone_label(mnemonic)
        if label is None or not 0 <= sample < n_samples:
            continue
        if sample == bounds[-1][0]:
            bounds[-1] = (sample, label)  # a zero-length phone: the later event wins
        elif label != bounds[-1][1]:
            bounds.append((sample, label))
    if len(bounds) > 1 and bounds[0][0] == bounds[1][0]:
        bounds.pop(0)
    ends = [b[0] for b in bounds[1:]] + [n_samples]
    return [WordTiming(label, start / rate, end / rate)
            for (start, label), end in zip(bounds, ends) if end > start]


def voices_available(names: Sequence[str]) -> List[str]:
    """Those of ``names`` that this espeak-ng accepts (for tests and the recipe's checks)."""
    syn = EspeakSynthesizer()
    ok = []
    for v in names:
        try:
            syn.set_voice(v)
            ok.append(v)
        except ValueError:
            pass
    return ok


def espeak_binary() -> Optional[str]:
    return shutil.which("espeak-ng")
