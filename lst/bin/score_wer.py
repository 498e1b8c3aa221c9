r"""Corpus WER/CER of a hypothesis text file against a reference (``lst.downstream.score.wer_cer``).

    python -m lst.bin.score_wer --ref data/test/text --hyp exp/asr_lst/decode_test_greedy/text \
        --out exp/asr_lst/decode_test_greedy/score.json

A reference utterance without a hypothesis counts as empty (all deletions). ``--normalizer
recognizer`` scores with the independent recognizer's text normaliser
(``lst.downstream.recognizer.normalize_text``: no punctuation), as tts.sh does for both of its
recognizers; the default ``upper`` only upper-cases and splits on spaces.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from lst.data.kaldi_dir import read_kaldi_map
from lst.downstream.recognizer import score_texts
from lst.downstream.score import wer_cer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True)
    p.add_argument("--hyp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--normalizer", choices=["upper", "recognizer"], default="upper")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (score_wer) %(levelname)s: %(message)s")
    score = score_texts if args.normalizer == "recognizer" else wer_cer
    res = score(read_kaldi_map(args.ref, allow_empty_value=True), read_kaldi_map(args.hyp, allow_empty_value=True))
    Path(args.out).write_text(json.dumps(res, indent=2))
    logging.info(f"{args.hyp}: WER {res['wer']:.2f} CER {res['cer']:.2f} ({res['n_utts']} utts)")


if __name__ == "__main__":
    sys.exit(main())
