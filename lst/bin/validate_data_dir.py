"""Validate a kaldi-style data dir: ``python -m lst.bin.validate_data_dir data/train``."""
import argparse
import logging
import sys

from lst.data.kaldi_dir import DataDirError, validate_data_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    try:
        counts = validate_data_dir(args.data_dir)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    logging.info(f"{args.data_dir}: OK, {counts['utterances']} utterances, {counts['speakers']} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
