"""Decode timing for ESPnet's own decoders run through the lst.bin wrappers
(``lst.bin.espnet_asr_inference``, ``lst.bin.espnet_mt_inference``): their ``--timing_out``
option is taken off the command line before ESPnet parses it, and every decoded utterance is
timed by wrapping the decoder class's ``__call__`` for the duration of the run."""
import contextlib
import json
import time
from pathlib import Path


def pop_option(argv, name):
    """(value of ``name``, argv without it); both ``--name V`` and ``--name=V`` forms."""
    value = None
    out = []
    i = 0
    while i < len(argv):
        if argv[i] == name and i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
            continue
        if argv[i].startswith(name + "="):
            value = argv[i].split("=", 1)[1]
            i += 1
            continue
        out.append(argv[i])
        i += 1
    return value, out


@contextlib.contextmanager
def timed_calls(cls, timing_out, audio_seconds=None):
    """While the block runs, time every ``cls.__call__`` (one decoded utterance of ESPnet's
    ``Speech2Text`` / ``Text2Text``); at its end restore the class and write ``decode_seconds``,
    ``n_calls`` and, with ``audio_seconds(*call_arguments)``, the audio seconds and their ratio
    (``rtf``) to ``timing_out``. ``timing_out`` None: nothing is timed."""
    if not timing_out:
        yield
        return
    stats = {"decode_seconds": 0.0, "n_calls": 0}
    if audio_seconds:
        stats["audio_seconds"] = 0.0
    original = cls.__call__

    def timed_call(self, *a, **kw):  # ESPnet's inference() calls it with the batch as keywords
        t0 = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            stats["decode_seconds"] += time.perf_counter() - t0
            stats["n_calls"] += 1
            if audio_seconds:
                stats["audio_seconds"] += audio_seconds(*a, **kw)

    cls.__call__ = timed_call
    try:
        yield
    finally:
        cls.__call__ = original
        if audio_seconds:
            stats["rtf"] = stats["decode_seconds"] / max(stats["audio_seconds"], 1e-9)
        Path(timing_out).parent.mkdir(parents=True, exist_ok=True)
        Path(timing_out).write_text(json.dumps(stats, indent=2))
