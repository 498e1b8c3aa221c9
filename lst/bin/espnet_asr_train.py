"""ESPnet's own ASR trainer (espnet2.bin.asr_train), made importable on this install.

    python -m lst.bin.espnet_asr_train --config conf/espnet_asr.yaml ...   (same options as asr_train)

Imports ESPnet's main with placeholders for torchaudio and g2p_en (imported by ESPnet, never
called by an fbank + BPE ASR; see lst/compat.py) for the duration of that import only.
"""
from lst.compat import ASR_TASK_PLACEHOLDERS, espnet_placeholders


def main(cmd=None):
    with espnet_placeholders(ASR_TASK_PLACEHOLDERS):
        from espnet2.bin.asr_train import main as asr_train_main

    asr_train_main(cmd)


if __name__ == "__main__":
    main()
