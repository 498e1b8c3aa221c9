"""ESPnet's own ASR trainer (espnet2.bin.asr_train), made importable on this install.

    python -m lst.bin.espnet_asr_train --config conf/espnet_asr.yaml ...   (same options as asr_train)

Only calls ``lst.compat.ensure_espnet_importable()`` first (placeholders for torchaudio,
g2p_en, ... that ESPnet imports but an fbank + BPE ASR never calls), then ESPnet's main.
"""
from lst.compat import ensure_espnet_importable


def main(cmd=None):
    ensure_espnet_importable()
    from espnet2.bin.asr_train import main as asr_train_main

    asr_train_main(cmd)


if __name__ == "__main__":
    main()
