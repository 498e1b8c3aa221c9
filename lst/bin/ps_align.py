r"""Word and phone forced alignment with CMU PocketSphinx (its en-us model; no training).

    # word_ctm (``utt word start end``) and phone_ctm (``utt phone start end``, contiguous
    # phone spans incl. ``sil``, the format lst.bin.unit_metrics reads) for a kaldi dir
    python -m lst.bin.ps_align --data_dir dump/raw/test --out_word_ctm dump/raw/test/word_ctm \
        --out_phone_ctm dump/raw/test/phone_ctm [--extra_dict downloads/an4/etc/an4.dic]

    # score the word boundaries against true timings (a word_ctm, e.g. espeak-ng's) on a subset
    python -m lst.bin.ps_align score --data_dir dump/raw/test --ref_ctm dump/raw/test/word_ctm \
        [--max_utts 100] [--out_json exp/align_eval/ps.json] [--out_word_ctm hyp_ctm]

The data dir needs ``wav.scp`` (any format lst.audio reads; resampled to 16 kHz) and
``text``. Utterances that cannot be aligned (a word without a pronunciation, unreadable or
too short audio, no alignment found) are skipped with a one-line reason and counted; the
tool fails only when nothing was aligned. Method: lst/align/pocketsphinx_align.py.
"""
import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np

from lst.align import pocketsphinx_align as pa
from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.data.timings import boundary_error_summary, boundary_errors, read_ctm, write_ctm

logger = logging.getLogger("lst.ps_align")


def get_parser(score: bool = False):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True, help="kaldi dir with wav.scp and text")
    p.add_argument("--out_word_ctm", default=None, help="word timings to write")
    p.add_argument("--out_phone_ctm", "--out_phone_ali", dest="out_phone_ctm", default=None,
                   help="phone spans to write (utt phone start end)")
    p.add_argument("--extra_dict", default=None, help="CMU-format dictionary for words the en-us one lacks")
    p.add_argument("--hmm", default=None, help="acoustic model dir (default: the wheel's en-us)")
    p.add_argument("--dict", default=None, help="pronunciation dictionary (default: the wheel's cmudict-en-us)")
    p.add_argument("--max_utts", type=int, default=None, help="align a random subset of this many")
    p.add_argument("--seed", type=int, default=0)
    if score:
        p.add_argument("--ref_ctm", required=True, help="true word timings of the data dir")
        p.add_argument("--out_json", default=None, help="write the error summary here")
    return p


def align_dir(aligner: pa.PocketSphinxAligner, data_dir: Path, utts=None):
    """{utt: Alignment} for the data dir's utterances; skips are logged and returned."""
    wavs = read_kaldi_map(data_dir / "wav.scp")
    texts = read_kaldi_map(data_dir / "text")
    utts = sorted(texts) if utts is None else utts
    out, skipped, audio_s = {}, [], 0.0
    t0 = last = time.time()
    for i, utt in enumerate(utts, 1):
        if utt not in wavs:
            skipped.append((utt, f"utterance {utt}: not in {data_dir}/wav.scp"))
        else:
            try:
                audio = load_audio(wavs[utt], pa.SAMPLE_RATE)
                audio_s += len(audio) / pa.SAMPLE_RATE
                out[utt] = aligner.align(audio, texts[utt].split(), utt)
            except (AudioError, pa.AlignError) as e:
                skipped.append((utt, str(e)))
        if skipped and skipped[-1][0] == utt:
            logger.warning("%s; skipped", skipped[-1][1])
        if time.time() - last > 10 or i == len(utts):
            last = time.time()
            logger.info("aligned %d/%d utterances (%d skipped), %.1f min audio in %.1f s",
                        i, len(utts), len(skipped), audio_s / 60, last - t0)
    return out, skipped, audio_s, time.time() - t0


def _write(args, out) -> None:
    if args.out_word_ctm:
        write_ctm(args.out_word_ctm, {u: a.words for u, a in out.items()})
    if args.out_phone_ctm:
        write_ctm(args.out_phone_ctm, {u: a.phones for u, a in out.items()})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (ps_align) %(levelname)s: %(message)s")
    is_score = bool(argv) and argv[0] == "score"
    args = get_parser(is_score).parse_args(argv[1:] if is_score else argv)
    data_dir = Path(args.data_dir)
    for name in ("wav.scp", "text"):
        if not (data_dir / name).exists():
            logger.error("%s/%s not found (a kaldi dir with wav.scp and text is needed)", data_dir, name)
            return 1
    if not is_score and not (args.out_word_ctm or args.out_phone_ctm):
        logger.error("nothing to write: give --out_word_ctm and/or --out_phone_ctm")
        return 1
    aligner = pa.PocketSphinxAligner(hmm=args.hmm, dict=args.dict, extra_dict=args.extra_dict)
    utts = sorted(read_kaldi_map(data_dir / "text"))
    ref = None
    if is_score:
        ref = read_ctm(args.ref_ctm)
        utts = [u for u in utts if u in ref]
    if args.max_utts and len(utts) > args.max_utts:
        utts = sorted(random.Random(args.seed).sample(utts, args.max_utts))
    out, skipped, audio_s, wall = align_dir(aligner, data_dir, utts)
    _write(args, out)
    reasons = "; ".join(r for _, r in skipped[:3])
    print(f"ps_align: {data_dir}: {len(utts)} in, {len(out)} aligned, {len(skipped)} skipped"
          + (f" ({reasons})" if reasons else "")
          + f"; {aligner.n_retried} needed a wider beam; {audio_s / 60:.1f} min audio in {wall:.1f} s "
          f"({audio_s / max(wall, 1e-9):.0f}x real time)")
    if not out:
        return 1
    if is_score:
        es, ee = zip(*(boundary_errors(ref[u], out[u].words, u) for u in out))
        summary = {"aligner": "pocketsphinx", "data_dir": str(data_dir), "n_utts": len(out),
                   "n_skipped": len(skipped), "n_wider_beam": aligner.n_retried, "audio_min": round(audio_s / 60, 2), "wall_s": round(wall, 1)}
        summary.update(boundary_error_summary(np.concatenate(es), np.concatenate(ee)))
        text = json.dumps(summary, indent=1)
        print(text)
        if args.out_json:
            Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out_json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
