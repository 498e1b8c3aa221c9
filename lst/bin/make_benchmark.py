"""Build one benchmark item file (Story Cloze, Topic Story Cloze, BLiMP or HellaSwag) in the
modes asked for; spoken parts are spoken by espeak-ng in the held-out voice and rate and
turned into units by the recipe's own feature + k-means pipeline.

    python -m lst.bin.make_benchmark --benchmark hellaswag --source ../shared/data/hellaswag/hellaswag_dev.jsonl \
        --modes "S->S,T->T" --n_items 200 --bpe_model data/bpe/bpe.model --km_dir exp/kmeans_mfcc_25hz_100 \
        --feature_type mfcc --frame_rate_hz 25 --work_dir dump/bench/hellaswag --out data/bench/hellaswag.jsonl

Sources: ``sc``/``tsc``: labelled Story Cloze csv files (several allowed; a story in two files
is kept once); ``blimp``: blimp_dev.jsonl; ``hellaswag``: hellaswag_dev.jsonl. ``--n_items N``
keeps the first N stories / HellaSwag items, and N BLiMP pairs taken round-robin over the
paradigms. Item format and builders: ``lst/eval/benchmark.py``.

Speech: every distinct text (context, each candidate) is one utterance, spoken once
(``lst.tts.speak.speak_and_unitize``: espeak-ng with word timings ->
``format_wav`` -> ``dump_features`` -> ``dump_units`` with the training k-means model); the
voice and rate must be neither a training voice nor a training rate (``lst.tts.voices``).
A rerun with the same texts, voice, rate and k-means model reuses ``--work_dir``
(``made_with.json``); anything else is spoken and unitized again.
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Dict

from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.data.timings import read_ctm
from lst.eval.benchmark import (BENCHMARK_MODES, BENCHMARKS, MODES, BenchmarkFormatError, build_text_items,
                                render_items, speech_texts, spoken_part, write_items)
from lst.tts.espeak import tokenize_for_speech
from lst.tts.speak import speak_and_unitize
from lst.tts.voices import HELDOUT_RATE, HELDOUT_VOICE, TRAINING_RATES, TRAINING_VOICES, check_heldout_voice


def spoken_parts(texts: Dict[str, str], args) -> Dict[str, Dict]:
    """{utt: text} -> {utt: spoken part}; synthesizes and unitizes what the work dir lacks."""
    work = Path(args.work_dir)
    said = {u: " ".join(tokenize_for_speech(t)) for u, t in texts.items()}
    have = work / "units/units"
    made_with = {"voice": args.voice, "rate": args.rate, "km": str(Path(args.km_dir).resolve()),
                 "feature_type": args.feature_type, "frame_rate_hz": args.frame_rate_hz,
                 "ssl_ckpt": args.ssl_ckpt, "ssl_layer": args.ssl_layer}
    params = work / "made_with.json"
    same = params.exists() and json.loads(params.read_text()) == made_with
    done = same and have.exists() and (work / "data/word_ctm").exists() and set(said) <= set(read_kaldi_map(have, allow_empty_value=True))
    if done:
        logging.info("reusing %s (all %d utterances present, same voice/rate/k-means)", work, len(said))
    else:
        logging.info("speaking %d utterances in %s at %d wpm", len(said), args.voice, args.rate)
        params.unlink(missing_ok=True)
        speak_and_unitize({u: (t, args.voice) for u, t in said.items()}, args)
        params.write_text(json.dumps(made_with) + "\n")
    info = json.loads((work / "units/unit_info.json").read_text())
    rate_hz = float(info["unit_rate_hz"])
    units = read_kaldi_map(work / "units/units", allow_empty_value=True)
    ctm = read_ctm(work / "data/word_ctm")
    wavs = read_kaldi_map(work / "raw/wav.scp", allow_empty_value=True)
    out = {}
    for u, t in texts.items():
        out[u] = spoken_part(t, [int(x) for x in units[u].split()], ctm[u], rate_hz, wavs.get(u, ""), args.voice,
                             args.rate, where=f"{work}/data/word_ctm: {u}")
    return out


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    p.add_argument("--source", required=True, nargs="+", help="source file(s) of the benchmark")
    p.add_argument("--modes", default=",".join(MODES), help="comma list; modes a benchmark lacks are skipped")
    p.add_argument("--n_items", type=int, default=-1, help="first N source items (-1: all)")
    p.add_argument("--seed", type=int, default=0, help="Topic Story Cloze distractors, BLiMP label positions")
    p.add_argument("--bpe_model", required=True)
    p.add_argument("--km_dir", default=None, help="training k-means dir (km.pkl); needed for spoken modes")
    p.add_argument("--feature_type", default="mfcc", choices=["mfcc", "ssl", "espnet_ssl"])
    p.add_argument("--frame_rate_hz", type=int, default=25)
    p.add_argument("--ssl_ckpt", default=None)
    p.add_argument("--ssl_layer", type=int, default=9)
    p.add_argument("--voice", default=HELDOUT_VOICE, help="held-out espeak-ng voice")
    p.add_argument("--rate", type=int, default=HELDOUT_RATE, help="held-out speaking rate (wpm)")
    p.add_argument("--training_voices", default=",".join(TRAINING_VOICES), help="checked against --voice")
    p.add_argument("--training_rates", default=",".join(map(str, TRAINING_RATES)), help="checked against --rate")
    p.add_argument("--work_dir", default="dump/bench")
    p.add_argument("--out", required=True)
    p.add_argument("--nj", type=int, default=2)
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (make_benchmark) %(levelname)s: %(message)s")
    t0 = time.time()
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"make_benchmark: unknown mode(s) {bad} (one of {MODES})")
    modes = [m for m in modes if m in BENCHMARK_MODES[args.benchmark]]
    if not modes:
        raise SystemExit(f"make_benchmark: {args.benchmark} has none of the modes {args.modes}")
    for f in [args.bpe_model, *args.source]:
        if not Path(f).exists():
            raise SystemExit(f"make_benchmark: {f} not found")
    try:
        items = build_text_items(args.benchmark, args.source, args.seed, args.n_items)
    except BenchmarkFormatError as e:
        raise SystemExit(f"make_benchmark: {e}")
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=args.bpe_model)

    def encode(text):
        return sp.encode(" ".join(tokenize_for_speech(text)), out_type=str)

    texts = speech_texts(items, modes)
    speech = {}
    if texts:
        try:
            check_heldout_voice(args.voice, args.rate, args.training_voices.split(","),
                                [int(r) for r in args.training_rates.split(",") if r], where="make_benchmark")
        except ValueError as e:
            raise SystemExit(str(e))
        if args.feature_type != "mfcc" and not args.ssl_ckpt:
            raise SystemExit(f"make_benchmark: --feature_type {args.feature_type} needs --ssl_ckpt (the k-means' features)")
        if not args.km_dir or not (Path(args.km_dir) / "km.pkl").exists():
            raise SystemExit(f"make_benchmark: --km_dir {args.km_dir!r} has no km.pkl (the recipe's k-means stage makes it)")
        try:
            speech = spoken_parts(texts, args)
        except DataDirError as e:
            raise SystemExit(f"make_benchmark: {e}")
    try:
        out = render_items(items, modes, encode, speech)
    except BenchmarkFormatError as e:
        raise SystemExit(f"make_benchmark: {e}")
    write_items(out, args.out)
    print(f"make_benchmark: {args.benchmark}: {len(items)} source items x {','.join(modes)} -> {len(out)} items "
          f"({len(texts)} spoken utterances) -> {args.out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
