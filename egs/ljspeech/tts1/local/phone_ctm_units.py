#!/usr/bin/env python3
"""Oracle phone units: each 50 Hz frame's phone id from a forced alignment (lst.bin.ps_align's
phone_ctm), written as a units file the unit vocoder reads. It uses the transcript, so it is a
diagnostic upper bound for phonetic units (what a perfect phone classifier would give), never a
system row.

    python local/phone_ctm_units.py --phone_ctm ../lst1/dump/raw/train/phone_ctm \
        --utt2num_frames ../lst1/dump/units/mfcc_50hz_km100/train/utt2num_frames \
        --out exp/oracle_phones/train.units --write_phones exp/oracle_phones/phones.txt
    python local/phone_ctm_units.py --phone_ctm ../lst1/dump/raw/test/phone_ctm ... \
        --out exp/oracle_phones/test.units --phones exp/oracle_phones/phones.txt

Frames follow lst.units.features' grid (centre rule); uncovered frames and phones outside the
phone list become ``sil``. Utterances without an alignment are left out (and counted).
"""
import argparse
import logging
import sys

import numpy as np

from lst.data.timings import TimingError, read_ctm
from lst.units.io import read_kaldi_map
from lst.units.phones import IGNORE, frame_phone_labels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phone_ctm", required=True)
    p.add_argument("--utt2num_frames", required=True, help="50 Hz frame counts (a units dir's utt2num_frames)")
    p.add_argument("--out", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--phones", help="phone list to use (one per line; must hold sil)")
    g.add_argument("--write_phones", help="make the phone list from this ctm and write it here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (phone_ctm_units) %(message)s")
    try:
        spans = read_ctm(args.phone_ctm)
    except TimingError as e:
        sys.exit(f"phone_ctm_units: {e}")
    if args.phones:
        phones = open(args.phones, encoding="utf-8").read().split()
    else:
        phones = sorted({s.word for v in spans.values() for s in v} | {"sil"})
        open(args.write_phones, "w", encoding="utf-8").write("\n".join(phones) + "\n")
    if "sil" not in phones:
        sys.exit(f"phone_ctm_units: {args.phones or args.write_phones} has no 'sil'")
    index = {ph: i for i, ph in enumerate(phones)}
    written = missing = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for utt, n in read_kaldi_map(args.utt2num_frames):
            if utt not in spans:
                missing += 1
                continue
            labels = frame_phone_labels(spans[utt], int(n), index)
            labels[labels == IGNORE] = index["sil"]
            f.write(utt + " " + " ".join(map(str, labels.astype(np.int64))) + "\n")
            written += 1
    logging.info("%s: %d utterances, %d without an alignment left out; %d phones", args.out, written, missing, len(phones))


if __name__ == "__main__":
    main()
