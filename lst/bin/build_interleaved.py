"""Build SpiritLM-style word-level interleaved speech-text sequences from word timings.

    python -m lst.bin.build_interleaved --units dump/units/train/units \\
        --unit_info dump/units/train/unit_info.json --word_ctm dump/raw/train/word_ctm \\
        --text dump/raw/train/text --bpe_model data/bpe/bpe.model --out corpus/train/seqs.inter \\
        [--span_words 5,30 | --switch_prob 0.1] [--ratios inter=1] [--seed 0]

Output: one line per sequence in the corpus format of ``lst/data/sequence_format.py``:

    inter_<utt> <t> ▁He ▁went <s> 12 12 5 | 7 7 | 33 <t> ▁home.
    speech_<utt> <s> 12 12 5 | 7 7 | 33 ...        (only with --ratios speech=...)
    text_<utt> <t> ▁He ▁went ...                  (only with --ratios text=...)

Interleaved spans switch modality only at word boundaries; each speech span carries its word
and silence-gap segments (``|``) from the word timings, mapped to units by the rule in
``lst/data/timings.py`` (unit i belongs to the word whose [start, end) holds its centre).
Each utterance gives one sequence whose kind is drawn so that kind counts follow
``--ratios`` exactly. The recipe's build_corpus already writes ``speech_``/``text_``
sequences for every utterance, so the default here is ``inter=1`` (interleaved only);
ask for speech/text here only when build_corpus does not make them (ids would clash).

Errors in the timings (a text word with no timing, overlapping timings, text/word_ctm id
mismatch) stop the run naming the utterance (``--on_timing_error skip`` counts and skips
such utterances instead). Utterances without units are skipped and counted.
The run prints counts per modality, the speech/text length ratio (units per BPE piece over
the same words) and "N in, M written, K skipped (reasons)".
"""
import argparse
import json
import logging
import random
import sys
from collections import Counter
from pathlib import Path

from lst.data.interleave import (
    AlignedUtterance,
    InterleaveConfig,
    assign_kinds,
    interleave,
    parse_ratios,
    speech_only,
    text_only,
)
from lst.data.sequence_format import format_sequence
from lst.data.kaldi_dir import DataDirError, read_units
from lst.data.timings import TimingError, check_ids_match, read_ctm, read_text


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", required=True, help="kaldi-style 'utt u u u' (not run-length deduplicated)")
    p.add_argument("--unit_info", required=True, help="unit_info.json with unit_rate_hz")
    p.add_argument("--word_ctm", required=True, help="'utt word start end' lines (seconds)")
    p.add_argument("--text", required=True, help="kaldi text; its words must equal the word_ctm words")
    p.add_argument("--bpe_model", required=True, help="sentencepiece model")
    p.add_argument("--out", required=True)
    p.add_argument("--switch_prob", type=float, default=None, help="switch modality at each word boundary with this probability (overrides --span_words)")
    p.add_argument("--span_words", default="5,30", help="lo,hi: alternate spans of U(lo,hi) words (paper: 5,30)")
    p.add_argument("--first", default="random", choices=["random", "speech", "text"], help="modality of the first span")
    p.add_argument("--ratios", default="inter=1", help="sequence kinds mix, e.g. inter=0.5,speech=0.25,text=0.25")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tail_tolerance_s", type=float, default=0.1, help="timings may end this far past the last unit")
    p.add_argument("--on_timing_error", default="raise", choices=["raise", "skip"])
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (build_interleaved) %(levelname)s: %(message)s")
    for path in (args.units, args.unit_info, args.word_ctm, args.text, args.bpe_model):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    info = json.loads(Path(args.unit_info).read_text())
    missing = [key for key in ("unit_rate_hz", "n_units") if key not in info]
    if missing:
        logging.error(f"{args.unit_info}: no {', '.join(missing)}")
        return 1
    if str(info.get("dedup", False)).lower() == "true":
        logging.error(f"{args.unit_info}: units are run-length deduplicated; word timings need the frame-rate units")
        return 1
    rate = float(info["unit_rate_hz"])
    n_units = int(info["n_units"])
    lo_hi = [int(x) for x in args.span_words.split(",")]
    if len(lo_hi) != 2:
        logging.error("--span_words must be lo,hi")
        return 1
    cfg = InterleaveConfig(switch_prob=args.switch_prob, span_words=tuple(lo_hi), first=args.first)
    ratios = parse_ratios(args.ratios)

    try:
        units = read_units(args.units, n_units)
        text = read_text(args.text)
    except (DataDirError, TimingError) as e:
        logging.error(str(e))
        return 1
    try:
        ctm = read_ctm(args.word_ctm)
        check_ids_match(text, ctm, text_name=args.text, ctm_name=args.word_ctm)
    except TimingError as e:
        if args.on_timing_error == "raise":
            logging.error(f"{e} (an aligner that skips utterances, e.g. pocketsphinx on words outside its "
                          "dictionary: --on_timing_error skip, lst.sh --interleave_opts, interleaves the aligned ones)")
            return 1
        logging.warning(str(e))

    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=args.bpe_model)
    encode = lambda s: sp.encode(s, out_type=str)  # noqa: E731

    skipped = Counter()
    aligned = []
    utts = sorted(text)
    for utt in utts:
        if utt not in ctm:
            skipped["no word timings"] += 1
            continue
        if utt not in units or not units[utt]:
            skipped["no units"] += 1
            logging.warning(f"{utt}: no units in {args.units}; skipped")
            continue
        try:
            aligned.append(AlignedUtterance.build(utt, text[utt], ctm[utt], units[utt], rate, args.tail_tolerance_s))
        except TimingError as e:
            if args.on_timing_error == "raise":
                logging.error(f"{args.word_ctm}: {e}")
                return 1
            skipped["bad timings"] += 1
            logging.warning(f"{args.word_ctm}: {e}; skipped")
    rng = random.Random(args.seed)
    kinds = assign_kinds(len(aligned), ratios, rng)
    lines = []
    kind_count = Counter()
    n_text_tok = n_speech_tok = n_spans_text = n_spans_speech = n_switches = 0
    total_units = total_pieces = 0
    for ua, kind in zip(aligned, kinds):
        if kind == "inter" and len(ua.groups) < 2:
            skipped["too short to interleave (< 2 words)"] += 1
            continue
        if kind == "inter":
            spans = interleave(ua, encode, cfg, rng)
        elif kind == "speech":
            spans = speech_only(ua)
        else:
            spans = text_only(ua.words, encode)
        for s in spans:
            if s.modality == "text":
                n_text_tok += len(s.items)
                n_spans_text += 1
            else:
                n_speech_tok += len(s.items)
                n_spans_speech += 1
        n_switches += len(spans) - 1
        kind_count[kind] += 1
        total_units += len(ua.units)
        total_pieces += len(encode(" ".join(ua.words)))
        lines.append((f"{kind}_{ua.utt}", format_sequence(spans)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from lst.stage_io import atomic_open

    with atomic_open(args.out, encoding="utf-8") as f:  # complete or absent (a kill, a full disk)
        for key, items in sorted(lines):
            f.write(f"{key} {items}\n")
    n_in = len(set(text) | set(units))
    n_skip = sum(skipped.values()) + len([u for u in units if u not in text])
    if any(u not in text for u in units):
        skipped["units but no text"] += len([u for u in units if u not in text])
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items())) or "none"
    ratio = total_units / total_pieces if total_pieces else float("nan")
    print(
        f"build_interleaved: sequences {dict(kind_count)}; text spans {n_spans_text} ({n_text_tok} BPE pieces), "
        f"speech spans {n_spans_speech} ({n_speech_tok} units), {n_switches} modality switches"
    )
    print(
        f"build_interleaved: speech/text length ratio {ratio:.2f} units per BPE piece "
        f"({total_units} units / {total_pieces} pieces over the same words, {rate:g} Hz units)"
    )
    print(f"build_interleaved: {args.out}: {n_in} in, {len(lines)} written, {n_skip} skipped ({reasons})")
    if not lines:
        logging.error(f"{args.out}: nothing written")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
