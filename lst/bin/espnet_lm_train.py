"""ESPnet's language-model trainer (espnet2.bin.lm_train), made importable on this install.

    python -m lst.bin.espnet_lm_train --config conf/espnet_lm_rnn.yaml ...   (same options as lm_train)

The LM that ESPnet's asr.sh trains for shallow fusion (its stages 6-7): same token list and BPE
model as the ASR, trained on the ASR's training transcripts. Imports ESPnet's main with
placeholders for torchaudio and g2p_en (imported by ESPnet's task modules, never called by a BPE
text LM; see lst/compat.py) for the duration of that import only.
"""
from lst.compat import LM_TASK_PLACEHOLDERS, espnet_placeholders


def main(cmd=None):
    with espnet_placeholders(LM_TASK_PLACEHOLDERS):
        from espnet2.bin.lm_train import main as lm_train_main

    lm_train_main(cmd)


if __name__ == "__main__":
    main()
