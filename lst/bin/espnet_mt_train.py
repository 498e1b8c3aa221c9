"""ESPnet's MT trainer (espnet2.bin.mt_train), made importable on this install.

    python -m lst.bin.espnet_mt_train --config conf/asr_units_espnet_ebf.yaml ...   (same options as mt_train)

ESPnet trains its discrete-unit ASR (egs2 ``asr2``: unit ids in, text out; ``--model
discrete_asr`` with CTC and SpecAug on the unit embeddings) with this task. Imports ESPnet's
main with placeholders for torchaudio and g2p_en (imported by ESPnet, never called by a
units -> BPE model; see lst/compat.py) for the duration of that import only.
"""
from lst.compat import MT_TASK_PLACEHOLDERS, espnet_placeholders


def main(cmd=None):
    with espnet_placeholders(MT_TASK_PLACEHOLDERS):
        from espnet2.bin.mt_train import main as mt_train_main

    mt_train_main(cmd)


if __name__ == "__main__":
    main()
