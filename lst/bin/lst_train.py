"""Train a speech-text LM (token baseline or LST) with ESPnet's trainer.

    python -m lst.bin.lst_train --config conf/train_lst.yaml --token_list data/token_list/tokens.txt ...
"""
from lst.tasks.lst import LSTTask


def get_parser():
    return LSTTask.get_parser()


def main(cmd=None):
    LSTTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
