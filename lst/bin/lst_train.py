"""Train a speech-text LM (token baseline or LST) with ESPnet's trainer.

    python -m lst.bin.lst_train --config conf/train_lst.yaml --token_list data/token_list/tokens.txt ...
"""
import sys

from lst.tasks.lst import LSTTask
from lst.train.config_check import ConfigError


def get_parser():
    return LSTTask.get_parser()


def main(cmd=None):
    try:
        LSTTask.main(cmd=cmd)
    except ConfigError as e:
        sys.exit(f"lst_train: {e}")


if __name__ == "__main__":
    main()
