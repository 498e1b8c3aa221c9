r"""The downstream (ASR / TTS) recipe stages' helpers (``lst.downstream.prepare``) on the command line.

    python -m lst.bin.prepare_downstream unpack --model packed.zip --out_dir exp/pretrained
    python -m lst.bin.prepare_downstream units --model exp/pretrained --wav_scp dump/raw/test/wav.scp \
        --out_dir dump/units/test
    python -m lst.bin.prepare_downstream finetune_config --model exp/pretrained --conf conf/finetune.yaml \
        --out exp/asr_lst/ft_config.yaml
    python -m lst.bin.prepare_downstream espnet_token_list --bpe_model exp/pretrained/bpe.model \
        --out data/espnet_token_list/tokens.txt
"""
import argparse
import logging
import sys

from lst.downstream.prepare import cmd_espnet_token_list, cmd_finetune_config, cmd_units, cmd_unpack


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("unpack")
    s.add_argument("--model", required=True)
    s.add_argument("--out_dir", required=True)
    s = sub.add_parser("units")
    s.add_argument("--model", required=True, help="packed model (archive or unpacked directory)")
    s.add_argument("--wav_scp", required=True)
    s.add_argument("--out_dir", required=True)
    s = sub.add_parser("finetune_config")
    s.add_argument("--model", required=True, help="unpacked package directory")
    s.add_argument("--conf", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("espnet_token_list")
    s.add_argument("--bpe_model", required=True)
    s.add_argument("--out", required=True)
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (prepare) %(levelname)s: %(message)s")
    {"unpack": cmd_unpack, "units": cmd_units, "finetune_config": cmd_finetune_config,
     "espnet_token_list": cmd_espnet_token_list}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
