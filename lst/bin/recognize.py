r"""Transcribe a wav.scp with the independent recognizer (PocketSphinx) and score it.

    python -m lst.bin.recognize --wav_scp dump/raw/test/wav.scp --output_dir exp/recognize/test \
        [--ref_text data/test/text] [--lm LM --dict DICT --hmm DIR] [--resume true]

Writes ``output_dir/text`` (kaldi style, raw recognizer output) and, with ``--ref_text``,
``output_dir/score.json``: WER/CER in percent (jiwer, after ``lst.downstream.recognizer.
normalize_text`` on both sides), counts, and the decode real-time factor. Audio of any rate is
resampled to 16 kHz; unreadable files are skipped, counted, and scored as empty hypotheses.

The directory is written under a temporary name and swapped into place with its completion
marker ``.done.json`` (lst/stage_io.py), which records the fingerprints of the inputs (the
audio files' contents, the reference text) and the model options. With ``--resume true`` a
directory whose marker records the same inputs and options is left as it is (a recipe stage
re-run recognizes only what changed).
"""
import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Optional

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.downstream.recognizer import (SAMPLE_RATE, PocketSphinxRecognizer, RecognizerConfig,
                                       score_texts)
from lst.stage_io import StageError, check_stage, fingerprint, read_marker, sha256_file, staged_dir
from lst.units.io import str2bool

TOOL = "recognize"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--ref_text", default=None, help="kaldi text with the reference words")
    p.add_argument("--hmm", default=None, help="acoustic model dir (default: the wheel's en-us)")
    p.add_argument("--lm", default=None, help="n-gram LM (default: the wheel's en-us LM)")
    p.add_argument("--dict", default=None, help="pronunciation dictionary (default: cmudict-en-us)")
    p.add_argument("--resume", type=str2bool, default=False,
                   help="true: keep an output_dir whose marker records the same inputs and options")
    return p


def audio_fingerprint(items: Dict[str, str]) -> str:
    """sha256 over the (id, content hash) of every entry; an entry that is not a readable file
    (a command, a missing path) contributes its text."""
    h = hashlib.sha256()
    for utt, path in items.items():
        content = sha256_file(path) if os.path.isfile(path) else f"unreadable:{path}"
        h.update(f"{utt}\t{content}\n".encode("utf-8"))
    return h.hexdigest()


def run_inputs(args, items: Dict[str, str]) -> Dict[str, str]:
    inputs = {"audio": audio_fingerprint(items)}
    if args.ref_text:
        inputs["ref_text"] = fingerprint(args.ref_text)
    return inputs


def run_params(args) -> Dict[str, Optional[str]]:
    return {"recognizer": "pocketsphinx", "hmm": args.hmm, "lm": args.lm, "dict": args.dict}


def up_to_date(out: Path, inputs: Dict, params: Dict) -> bool:
    """Does ``out`` hold a complete run on these inputs with these options?"""
    try:
        marker = read_marker(out) if out.is_dir() else None
        if marker is None or marker.get("stage") != TOOL:
            return False
        if marker.get("inputs") != inputs or marker.get("params") != params:
            return False
        check_stage(out, TOOL)
    except StageError as e:
        logging.warning(f"{out}: not reused ({e})")
        return False
    return True


def recognize(rec: PocketSphinxRecognizer, items: Dict[str, str], where: str):
    """utt -> words for the readable entries, and the ids skipped (unreadable audio)."""
    hyps, skipped = {}, []
    for i, (utt, path) in enumerate(items.items(), 1):
        try:
            wav = load_audio(path, SAMPLE_RATE)
        except AudioError as e:
            logging.warning(f"{where}: {utt}: skipped ({e.reason}: {e.detail})")
            skipped.append(utt)
            continue
        hyps[utt] = rec.transcribe(wav, SAMPLE_RATE)
        if i % 50 == 0 or i == len(items):
            logging.info(f"{i}/{len(items)} utterances, RTF {rec.rtf:.3f}")
    return hyps, skipped


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (recognize) %(levelname)s: %(message)s")
    out = Path(args.output_dir)
    items = read_kaldi_map(args.wav_scp)
    refs = None
    if args.ref_text:
        all_refs = read_kaldi_map(args.ref_text, allow_empty_value=True)
        missing = [u for u in items if u not in all_refs]
        if missing:
            logging.error(f"{args.ref_text}: no reference for {len(missing)} utterances of {args.wav_scp}, "
                          f"e.g. {missing[0]}")
            return 1
        refs = {u: all_refs[u] for u in items}
    inputs, params = run_inputs(args, items), run_params(args)
    if args.resume and up_to_date(out, inputs, params):
        logging.info(f"{out}: up to date (same audio, reference and options); not recognized again")
        return 0
    rec = PocketSphinxRecognizer(RecognizerConfig(hmm=args.hmm, lm=args.lm, dict=args.dict))
    hyps, skipped = recognize(rec, items, args.wav_scp)
    if skipped:
        logging.warning(f"{len(skipped)} of {len(items)} utterances skipped (unreadable audio)")
    try:
        with staged_dir(out, TOOL) as stage:
            with open(Path(stage.path) / "text", "w", encoding="utf-8") as f:
                for utt, words in hyps.items():
                    f.write(f"{utt} {words}\n")
            if refs is not None:
                res = score_texts(refs, hyps)
                res.update(recognizer="pocketsphinx", rtf=rec.rtf, audio_seconds=rec.audio_seconds,
                           skipped=len(skipped))
                (Path(stage.path) / "score.json").write_text(json.dumps(res, indent=2))
                logging.info(f"{args.wav_scp}: WER {res['wer']:.2f} CER {res['cer']:.2f} "
                             f"({res['n_utts']} utts, RTF {rec.rtf:.3f})")
            stage.complete(counts={"in": len(items), "written": len(hyps), "skipped": len(skipped)},
                           params=params, inputs=inputs)
    except StageError as e:
        logging.error(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
