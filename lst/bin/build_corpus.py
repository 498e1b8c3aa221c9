"""Build utterance-level training sequences in the corpus format of lst/data/sequence_format.py.

    python -m lst.bin.build_corpus --units dump/units/train/units --unit_info dump/units/train/unit_info.json \
        --text dump/raw/train/text --bpe_model data/bpe/bpe.model --kinds "speech text s2t t2s" \
        --out corpus/train/seqs [--word_ctm dump/raw/train/word_ctm]

Kinds, one sequence per utterance each: ``speech`` (units only), ``text`` (BPE only),
``s2t`` (speech then its transcript, the ASR direction) and ``t2s`` (transcript then speech,
the TTS direction). With ``--word_ctm``, speech spans carry word/silence alignment segments
(``|``) for aligned patching. Utterances missing from units or text are counted and logged,
never silently dropped.
"""
import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import sentencepiece as spm

from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.data.sequence_format import Span, format_sequence

KINDS = ("speech", "text", "s2t", "t2s")


def read_units(path, n_units: int):
    """units file -> {utt: [int]}, checking every id against the k-means size."""
    units = {}
    for utt, value in read_kaldi_map(path, allow_empty_value=True).items():
        try:
            seq = [int(u) for u in value.split()]
        except ValueError:
            raise DataDirError(f"{path}: utterance {utt} has a non-integer unit") from None
        bad = [u for u in seq if not 0 <= u < n_units]
        if bad:
            raise DataDirError(f"{path}: utterance {utt} has unit ids {bad[:5]} outside [0, {n_units})")
        units[utt] = seq
    return units


def load_segments(word_ctm, units, unit_rate_hz: float):
    """Alignment segment lengths per utterance, or {} when there is no CTM."""
    if not word_ctm:
        return {}
    from lst.data.timings import read_ctm, unit_segments  # the corpora module (issue 5)

    words = read_ctm(word_ctm)
    return {
        utt: unit_segments(words[utt], len(seq), unit_rate_hz, where=f"{word_ctm}: {utt}")
        for utt, seq in units.items()
        if utt in words
    }


def utterance_sequences(utt, units, pieces, segments, kinds):
    speech = Span("speech", units, segments)
    text = Span("text", pieces)
    spans = {"speech": [speech], "text": [text], "s2t": [speech, text], "t2s": [text, speech]}
    return [(f"{kind}_{utt}", format_sequence(spans[kind])) for kind in kinds]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", required=True)
    parser.add_argument("--unit_info", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--bpe_model", required=True)
    parser.add_argument("--kinds", default=" ".join(KINDS))
    parser.add_argument("--word_ctm", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    kinds = args.kinds.replace(",", " ").split()
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        logging.error(f"--kinds: unknown kinds {unknown}; choose from {KINDS}")
        return 1
    for path in (args.units, args.unit_info, args.text, args.bpe_model):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    info = json.loads(Path(args.unit_info).read_text())
    try:
        units = read_units(args.units, int(info["n_units"]))
        text = read_kaldi_map(args.text, allow_empty_value=True)
        segments = load_segments(args.word_ctm, units, float(info["unit_rate_hz"]))
    except (DataDirError, ValueError) as e:
        logging.error(str(e))
        return 1
    sp = spm.SentencePieceProcessor(model_file=args.bpe_model)

    skipped = Counter()
    lines = []
    for utt in sorted(set(units) | set(text)):
        if utt not in units:
            skipped["in text but not in units"] += 1
            logging.warning(f"{utt}: in {args.text} but not in {args.units}; skipped")
            continue
        if utt not in text:
            skipped["in units but not in text"] += 1
            logging.warning(f"{utt}: in {args.units} but not in {args.text}; skipped")
            continue
        if not units[utt] or not text[utt].strip():
            reason = "no units" if not units[utt] else "empty transcript"
            skipped[reason] += 1
            logging.warning(f"{utt}: {reason}; skipped")
            continue
        pieces = sp.encode(text[utt].strip(), out_type=str)
        lines += utterance_sequences(utt, units[utt], pieces, segments.get(utt), kinds)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for key, items in sorted(lines):
            f.write(f"{key} {items}\n")
    n_in = len(set(units) | set(text))
    n_utts = n_in - sum(skipped.values())
    reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "none"
    logging.info(
        f"{args.out}: {n_in} utterances in, {n_utts} used, {sum(skipped.values())} skipped ({reasons}); "
        f"{len(lines)} sequences ({', '.join(kinds)})"
    )
    if n_utts == 0:
        logging.error(f"{args.out}: no utterance survived; check {args.units} and {args.text}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
