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
import sys

from lst.compat import ASR_INFERENCE_PLACEHOLDERS, espnet_placeholders
from lst.downstream.espnet_timing import pop_option, timed_calls


def main(cmd=None):
    with espnet_placeholders(ASR_INFERENCE_PLACEHOLDERS):
        import espnet2.bin.asr_inference as asr_inference

    argv = list(sys.argv[1:] if cmd is None else cmd)
    timing_out, argv = pop_option(argv, "--timing_out")
    with timed_calls(asr_inference.Speech2Text, timing_out, audio_seconds=lambda speech, **_: float(speech.shape[-1]) / 16000.0):
        asr_inference.main(argv)


if __name__ == "__main__":
    main()
