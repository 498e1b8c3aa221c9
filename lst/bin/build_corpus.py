"""Build utterance-level training sequences in the corpus format of lst/data/sequence_format.py.

    python -m lst.bin.build_corpus --units dump/units/train/units --unit_info dump/units/train/unit_info.json \
        --text dump/raw/train/text --bpe_model data/bpe/bpe.model --kinds "speech text s2t t2s" \
        --out corpus/train/seqs [--word_ctm dump/raw/train/word_ctm]

Kinds, one sequence per utterance each: ``speech`` (units only), ``text`` (BPE only),
``s2t`` (speech then its transcript, the ASR direction) and ``t2s`` (transcript then speech,
the TTS direction). With ``--word_ctm``, speech spans carry word/silence alignment segments
(``|``) for aligned patching. Utterances missing from units or text are counted and logged,
never silently dropped.

``--docs_out corpus/train/docs`` (needs ``--word_ctm``) also writes one word-level document
per utterance (``lst/data/documents.py``: words, their BPE pieces, units, word/silence unit
segments, timings), from which training draws paper-style sequences every epoch. With
``--max_len N`` (the model's ``max_len``) a document that could give a sequence longer than N
tokens is split at word boundaries into ``<utt>-p1``, ``<utt>-p2``, ...; every split is
counted and logged.
"""
import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import sentencepiece as spm

from lst.data.kaldi_dir import DataDirError, read_kaldi_map, read_units
from lst.data.sequence_format import Span, format_sequence
from lst.stage_io import StageError, atomic_open, check_input_file, mark_file_outputs, remove_marker

KINDS = ("speech", "text", "s2t", "t2s")


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


def word_pieces(sp, words):
    """BPE pieces of each word: the transcript encoded once, cut where a piece starts a word
    (``▁``); per-word encoding if that does not give one group per word."""
    pieces = sp.encode(" ".join(words), out_type=str)
    groups = []
    for p in pieces:
        if p.startswith("\u2581") or not groups:
            groups.append([p])
        else:
            groups[-1].append(p)
    if len(groups) != len(words):
        groups = [sp.encode(w, out_type=str) for w in words]
    return groups


def build_documents(utts, units, text, sp, word_ctm, unit_rate_hz: float, max_len: int, skipped: Counter):
    """Word-level documents of the utterances (lst/data/documents.py), split to ``max_len``."""
    from lst.data.documents import DocumentError, aligned_document, split_document
    from lst.data.timings import TimingError, check_words_match, read_ctm, validate_timings, word_unit_spans

    ctm = read_ctm(word_ctm)
    docs, n_split = [], 0
    for utt in utts:
        words = text[utt].split()
        if utt not in ctm:
            skipped["docs: no word timings"] += 1
            logging.warning(f"{utt}: no word timings in {word_ctm}; no document")
            continue
        try:
            validate_timings(utt, ctm[utt])
            check_words_match(utt, words, ctm[utt])
            spans = word_unit_spans(ctm[utt], len(units[utt]), unit_rate_hz, utt=utt)
            doc = aligned_document(utt, words, word_pieces(sp, words), units[utt], spans, ctm[utt])
            parts = split_document(doc, max_len)
        except (TimingError, DocumentError) as e:
            skipped["docs: bad timings"] += 1
            logging.warning(f"{word_ctm}: {e}; no document")
            continue
        if len(parts) > 1:
            n_split += 1
            logging.info(f"{utt}: split at word boundaries into {len(parts)} documents (max_len {max_len})")
        docs += parts
    return docs, n_split


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
    parser.add_argument("--docs_out", default=None, help="also write word-level documents here (needs --word_ctm)")
    parser.add_argument("--max_len", type=int, default=0, help="split documents to this many tokens (0: no limit)")
    parser.add_argument("--draw_stats_epochs", type=int, default=3,
                        help="log what the paper-mix draws of this many epochs give (0: skip)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    kinds = args.kinds.replace(",", " ").split()
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        logging.error(f"--kinds: unknown kinds {unknown}; choose from {KINDS}")
        return 1
    if args.docs_out and not args.word_ctm:
        logging.error("--docs_out needs --word_ctm (documents keep each word's units)")
        return 1
    for path in (args.units, args.unit_info, args.text, args.bpe_model):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    try:  # a units dir whose completion marker does not hold (killed, truncated) is refused
        check_input_file(args.units, "stage 5: python -m lst.bin.dump_units", "build_corpus")
    except StageError as e:
        logging.error(str(e))
        return 1
    remove_marker(Path(args.out).parent)  # rewritten below once every output is complete
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
    used = []
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
        used.append(utt)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out, encoding="utf-8") as f:  # complete or absent (lst.stage_io)
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
    if args.docs_out:
        doc_skips = Counter()
        docs, n_split = build_documents(used, units, text, sp, args.word_ctm, float(info["unit_rate_hz"]),
                                        args.max_len, doc_skips)
        Path(args.docs_out).parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(args.docs_out, encoding="utf-8") as f:
            for doc in sorted(docs, key=lambda d: d.doc_id):
                f.write(doc.line() + "\n")
        reasons = ", ".join(f"{n} {r}" for r, n in doc_skips.items()) or "none"
        logging.info(f"{args.docs_out}: {len(used)} utterances, {len(docs)} documents ({n_split} split to "
                     f"max_len {args.max_len}), {sum(doc_skips.values())} skipped ({reasons})")
        if docs and args.draw_stats_epochs > 0:
            from lst.data.interleave import PaperInterleaveConfig, draw_statistics, parse_stream_mix

            st = draw_statistics(docs, PaperInterleaveConfig(), parse_stream_mix("paper"),
                                 range(1, args.draw_stats_epochs + 1))
            share = ", ".join(f"{k} {100 * v:.1f} %" for k, v in st["stream_share"].items())
            logging.info(f"{args.docs_out}: draws of epochs 1-{args.draw_stats_epochs} (paper mix, 1:2): {share}; "
                         f"interleaved speech:text words {st['speech_text_word_ratio']:.3f}, speech units "
                         f"{100 * st['units_share_of_interleaved']:.1f} % of interleaved unit+piece tokens; "
                         f"{st['tokens_per_sequence']:.1f} tokens per sequence")
        if not docs:
            logging.error(f"{args.docs_out}: no document written")
            return 1
    try:  # completion marker: counts, input fingerprints, k-means/token-list lineage
        mark_file_outputs("build_corpus", [args.out, args.docs_out],
                          {"units": args.units, "text": args.text, "bpe_model": args.bpe_model,
                           "word_ctm": args.word_ctm},
                          counts={"in": n_in, "used": n_utts, "sequences": len(lines)},
                          params={"kinds": kinds, "max_len": args.max_len})
    except StageError as e:
        logging.error(f"{args.out}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:  # a full disk (ENOSPC) while writing: one line, no partial output left
        from lst.stage_io import io_error_message

        sys.exit(f"build_corpus: {io_error_message(getattr(e, 'filename', None) or '?', e)}")
