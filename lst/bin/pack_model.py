r"""Pack a pretrained LST or token-baseline model into one archive (see lst/pack.py).

    python -m lst.bin.pack_model --config exp/lst_train_lst_debug/config.yaml \
        --model_file exp/lst_train_lst_debug/valid.loss.best.pth --bpe_model data/bpe/bpe.model \
        --km_dir exp/kmeans_mfcc_50hz_32 --unit_info dump/units/train/unit_info.json \
        --out packed/lst.zip          # or .tar.gz

Load it back with ``lst.pack.load_packed(path)``.
"""
import argparse
import logging
import sys

from lst.pack import PackError, pack_model


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="training config.yaml of the pretrained model")
    p.add_argument("--model_file", required=True, help="weights, e.g. valid.loss.best.pth")
    p.add_argument("--bpe_model", required=True)
    p.add_argument("--km_dir", required=True, help="directory with km.pkl and km_info.json")
    p.add_argument("--unit_info", required=True, help="dump/units/<set>/unit_info.json")
    p.add_argument("--token_list", default=None, help="optional; must equal the config's token_list")
    p.add_argument("--out", required=True, help="output archive (.zip, .tar.gz or .tgz)")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (pack_model) %(levelname)s: %(message)s")
    try:
        meta = pack_model(args.out, args.config, args.model_file, args.bpe_model, args.km_dir, args.unit_info,
                          args.token_list)
    except PackError as e:
        logging.error(str(e))
        return 1
    logging.info(f"{args.out}: model={meta['model']} units={meta['n_units']} @ {meta['unit_rate_hz']} Hz, "
                 f"{len(meta['files'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
