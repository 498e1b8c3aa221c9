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
import json
import sys
import time
from pathlib import Path

from lst.compat import ASR_INFERENCE_PLACEHOLDERS, espnet_placeholders


def _pop_option(argv, name):
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


def main(cmd=None):
    with espnet_placeholders(ASR_INFERENCE_PLACEHOLDERS):
        import espnet2.bin.asr_inference as asr_inference

    argv = list(sys.argv[1:] if cmd is None else cmd)
    timing_out, argv = _pop_option(argv, "--timing_out")
    stats = {"decode_seconds": 0.0, "audio_seconds": 0.0, "n_calls": 0}
    if timing_out:
        original = asr_inference.Speech2Text.__call__

        def timed_call(self, speech, *a, **kw):
            t0 = time.perf_counter()
            try:
                return original(self, speech, *a, **kw)
            finally:
                stats["decode_seconds"] += time.perf_counter() - t0
                stats["audio_seconds"] += float(speech.shape[-1]) / 16000.0
                stats["n_calls"] += 1

        asr_inference.Speech2Text.__call__ = timed_call
    try:
        asr_inference.main(argv)
    finally:
        if timing_out:
            asr_inference.Speech2Text.__call__ = original
            stats["rtf"] = stats["decode_seconds"] / max(stats["audio_seconds"], 1e-9)
            Path(timing_out).parent.mkdir(parents=True, exist_ok=True)
            Path(timing_out).write_text(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
