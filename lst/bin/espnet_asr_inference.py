"""ESPnet's ASR decoder (espnet2.bin.asr_inference), made importable on this install.

    python -m lst.bin.espnet_asr_inference [--timing_out timing.json] --asr_train_config exp/asr/config.yaml \
        --asr_model_file exp/asr/valid.acc.best.pth --data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound \
        --output_dir exp/asr/decode_test --ngpu 0 --batch_size 1 --beam_size 4 ...

Imports ESPnet's decoder with placeholders for torchaudio, g2p_en and ci_sdr (see
lst/compat.py) for the duration of that import only, then calls ESPnet's own main. ``--timing_out``
(ours, removed before ESPnet parses the rest) times every ``Speech2Text`` call (frontend +
encoder + beam search, not model loading) and writes the decode seconds, the audio seconds
(16 kHz input) and their ratio, the real-time factor.
"""
import contextlib
import json
import sys
import time
from pathlib import Path

from lst.compat import ASR_INFERENCE_PLACEHOLDERS, espnet_placeholders


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


def main(cmd=None):
    with espnet_placeholders(ASR_INFERENCE_PLACEHOLDERS):
        import espnet2.bin.asr_inference as asr_inference

    argv = list(sys.argv[1:] if cmd is None else cmd)
    timing_out, argv = pop_option(argv, "--timing_out")
    with timed_calls(asr_inference.Speech2Text, timing_out, audio_seconds=lambda speech, **_: float(speech.shape[-1]) / 16000.0):
        asr_inference.main(argv)


if __name__ == "__main__":
    main()
