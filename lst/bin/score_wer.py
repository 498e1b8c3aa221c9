r"""Corpus WER/CER of a hypothesis text file against a reference (``lst.downstream.score.wer_cer``).

    python -m lst.bin.score_wer --ref data/test/text --hyp exp/asr_lst/decode_test_greedy/text \
        --out exp/asr_lst/decode_test_greedy/score.json

A reference utterance without a hypothesis counts as empty (all deletions). ``--normalizer
recognizer`` scores with the independent recognizer's text normaliser
(``lst.downstream.recognizer.normalize_text``: no punctuation), as tts.sh does for both of its
recognizers; the default ``upper`` only upper-cases and splits on spaces.

``--baseline_hyp B`` also compares the hypothesis with another system's on the same references:
``vs_baseline`` in the output holds WER(hyp) - WER(B) in points and its paired bootstrap 95 %
interval over utterances (``lst.downstream.score.wer_paired_bootstrap``; ``upper`` normaliser).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from lst.data.kaldi_dir import read_kaldi_map
from lst.downstream.recognizer import score_texts
from lst.downstream.score import wer_cer, wer_paired_bootstrap


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True)
    p.add_argument("--hyp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--normalizer", choices=["upper", "recognizer"], default="upper")
    p.add_argument("--baseline_hyp", default=None, help="another system's hypotheses of the same references")
    p.add_argument("--n_boot", type=int, default=2000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (score_wer) %(levelname)s: %(message)s")
    score = score_texts if args.normalizer == "recognizer" else wer_cer
    refs = read_kaldi_map(args.ref, allow_empty_value=True)
    hyps = read_kaldi_map(args.hyp, allow_empty_value=True)
    res = score(refs, hyps)
    if args.baseline_hyp:
        if args.normalizer != "upper":
            p.error("--baseline_hyp compares with the upper normaliser only")
        res["vs_baseline"] = dict(wer_paired_bootstrap(refs, hyps, read_kaldi_map(args.baseline_hyp, allow_empty_value=True),
                                                       n_boot=args.n_boot), baseline_hyp=args.baseline_hyp)
    Path(args.out).write_text(json.dumps(res, indent=2))
    logging.info(f"{args.hyp}: WER {res['wer']:.2f} CER {res['cer']:.2f} ({res['n_utts']} utts)")
    if args.baseline_hyp:
        v = res["vs_baseline"]
        logging.info(f"vs {args.baseline_hyp}: {v['difference']:+.2f} WER points, 95 % CI "
                     f"[{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}] (paired bootstrap over {v['n_utts']} utts)")


if __name__ == "__main__":
    sys.exit(main())
