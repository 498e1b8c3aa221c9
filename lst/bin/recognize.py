r"""Transcribe a wav.scp with the independent recognizer (PocketSphinx) and score it.

    python -m lst.bin.recognize --wav_scp dump/raw/test/wav.scp --output_dir exp/recognize/test \
        [--ref_text data/test/text] [--lm LM --dict DICT --hmm DIR]

Writes ``output_dir/text`` (kaldi style, raw recognizer output) and, with ``--ref_text``,
``output_dir/score.json``: WER/CER in percent (jiwer, after ``lst.downstream.recognizer.
normalize_text`` on both sides), counts, and the decode real-time factor. Audio of any rate is
resampled to 16 kHz; unreadable files are skipped, counted, and scored as empty hypotheses.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.downstream.recognizer import (SAMPLE_RATE, PocketSphinxRecognizer, RecognizerConfig,
                                       score_texts)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--ref_text", default=None, help="kaldi text with the reference words")
    p.add_argument("--hmm", default=None, help="acoustic model dir (default: the wheel's en-us)")
    p.add_argument("--lm", default=None, help="n-gram LM (default: the wheel's en-us LM)")
    p.add_argument("--dict", default=None, help="pronunciation dictionary (default: cmudict-en-us)")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (recognize) %(levelname)s: %(message)s")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = read_kaldi_map(args.wav_scp)
    rec = PocketSphinxRecognizer(RecognizerConfig(hmm=args.hmm, lm=args.lm, dict=args.dict))
    hyps, skipped = {}, []
    for i, (utt, path) in enumerate(items.items(), 1):
        try:
            wav = load_audio(path, SAMPLE_RATE)
        except AudioError as e:
            logging.warning(f"{args.wav_scp}: {utt}: skipped ({e.reason}: {e.detail})")
            skipped.append(utt)
            continue
        hyps[utt] = rec.transcribe(wav, SAMPLE_RATE)
        if i % 50 == 0 or i == len(items):
            logging.info(f"{i}/{len(items)} utterances, RTF {rec.rtf:.3f}")
    with open(out / "text", "w", encoding="utf-8") as f:
        for utt, words in hyps.items():
            f.write(f"{utt} {words}\n")
    if skipped:
        logging.warning(f"{len(skipped)} of {len(items)} utterances skipped (unreadable audio)")
    if args.ref_text:
        refs = read_kaldi_map(args.ref_text, allow_empty_value=True)
        refs = {u: refs[u] for u in items if u in refs}
        missing = [u for u in items if u not in refs]
        if missing:
            logging.error(f"{args.ref_text}: no reference for {len(missing)} utterances, e.g. {missing[0]}")
            return 1
        res = score_texts(refs, hyps)
        res.update(recognizer="pocketsphinx", rtf=rec.rtf, audio_seconds=rec.audio_seconds,
                   skipped=len(skipped))
        (out / "score.json").write_text(json.dumps(res, indent=2))
        logging.info(f"{args.wav_scp}: WER {res['wer']:.2f} CER {res['cer']:.2f} "
                     f"({res['n_utts']} utts, RTF {rec.rtf:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
