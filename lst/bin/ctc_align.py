"""Word-level forced alignment with a small character CTC model and ``ctc-segmentation``.

Sub-commands (kaldi dirs with wav.scp of 16 kHz files, e.g. the recipe's dump/raw/<set>):

    # train on a corpus (the synthetic StoryCloze corpus); with --calib_dir holding a word_ctm
    # (true timings), the start/end offsets of CTC boundaries are calibrated on it
    python -m lst.bin.ctc_align train --data_dir dump/raw/train --valid_dir dump/raw/valid \\
        --out_dir exp/ctc_align [--max_minutes 5] [--epochs 30] [--calib_dir dump/raw/train]

    # write word timings for a data dir (recorded speech, e.g. mini_an4)
    python -m lst.bin.ctc_align align --model_dir exp/ctc_align --data_dir dump/raw/train \\
        --out dump/raw/train/word_ctm

    # score against known timings: mean absolute word-boundary error (ms)
    python -m lst.bin.ctc_align score --model_dir exp/ctc_align --data_dir dump/raw/test [--max_utts 200]

Method and the boundary rule: see lst/align/ctc_align.py.
"""
import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lst.align import ctc_align as ca
from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.data.timings import boundary_errors, read_ctm, write_ctm


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data_dir", required=True)
    t.add_argument("--valid_dir", default=None)
    t.add_argument("--out_dir", required=True)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--max_minutes", type=float, default=5.0, help="stop after the epoch that passes this budget")
    t.add_argument("--max_utts", type=int, default=None, help="train on a random subset")
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--lr", type=float, default=4e-3)
    t.add_argument("--batch_frames", type=int, default=6000, help="padded 10 ms frames per batch")
    t.add_argument("--calib_dir", default=None, help="data dir with a true word_ctm to calibrate boundary offsets")
    t.add_argument("--calib_utts", type=int, default=100)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    a = sub.add_parser("align")
    a.add_argument("--model_dir", required=True)
    a.add_argument("--data_dir", required=True)
    a.add_argument("--out", required=True, help="word_ctm to write")
    s = sub.add_parser("score")
    s.add_argument("--model_dir", required=True)
    s.add_argument("--data_dir", required=True, help="must hold a word_ctm with the true timings")
    s.add_argument("--max_utts", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (ctc_align) %(levelname)s: %(message)s")
    torch.set_num_threads(getattr(args, "threads", 2))
    if args.cmd == "train":
        ca.train(
            args.data_dir, args.out_dir, valid_dir=args.valid_dir, epochs=args.epochs, max_minutes=args.max_minutes,
            batch_frames=args.batch_frames, lr=args.lr, hidden=args.hidden, max_utts=args.max_utts, seed=args.seed,
        )
        if args.calib_dir:
            ctm = Path(args.calib_dir) / "word_ctm"
            if not ctm.exists():
                logging.error(f"{ctm} not found: --calib_dir needs true word timings")
                return 1
            off = ca.calibrate(ca.Aligner(args.out_dir), args.calib_dir, read_ctm(ctm), max_utts=args.calib_utts)
            logging.info("calibrated boundary offsets (s): start %+.4f, end %+.4f", off["start"], off["end"])
        return 0

    aligner = ca.Aligner(args.model_dir)
    data_dir = Path(args.data_dir)
    wavs = read_kaldi_map(data_dir / "wav.scp")
    texts = read_kaldi_map(data_dir / "text")
    if args.cmd == "align":
        from tqdm import tqdm

        out, skipped = {}, []
        for utt in tqdm(sorted(texts), desc="align", mininterval=5):
            if utt not in wavs:
                skipped.append((utt, "not in wav.scp"))
                continue
            try:
                out[utt] = aligner.align(load_audio(wavs[utt], ca.SAMPLE_RATE), texts[utt].split(), utt)
            except (AudioError, ValueError, RuntimeError, OSError) as e:
                skipped.append((utt, str(e)))
                logging.warning("%s: %s; skipped", utt, e)
        write_ctm(args.out, out)
        reasons = "; ".join(f"{u}: {r}" for u, r in skipped[:3])
        print(f"ctc_align: {args.out}: {len(texts)} in, {len(out)} written, {len(skipped)} skipped" + (f" ({reasons})" if reasons else ""))
        return 0 if out else 1

    # score
    ref_path = data_dir / "word_ctm"
    if not ref_path.exists():
        logging.error(f"{ref_path} not found: scoring needs the true timings")
        return 1
    ref = read_ctm(ref_path)
    utts = sorted(set(ref) & set(wavs) & set(texts))
    if args.max_utts and len(utts) > args.max_utts:
        import random

        utts = sorted(random.Random(args.seed).sample(utts, args.max_utts))
    t0 = time.time()
    es, ee = [], []
    audio_s = 0.0
    for utt in utts:
        audio = load_audio(wavs[utt], ca.SAMPLE_RATE)
        audio_s += len(audio) / ca.SAMPLE_RATE
        hyp = aligner.align(audio, texts[utt].split(), utt)
        s, e = boundary_errors(ref[utt], hyp, utt)
        es.append(s)
        ee.append(e)
    es, ee = np.concatenate(es), np.concatenate(ee)
    both = np.abs(np.concatenate([es, ee]))
    print(
        f"ctc_align score: {len(utts)} utterances, {len(es)} words, {audio_s / 60:.1f} min audio, "
        f"{time.time() - t0:.1f} s\n"
        f"  mean |boundary error| {1000 * both.mean():.1f} ms (start {1000 * np.abs(es).mean():.1f} ms, "
        f"end {1000 * np.abs(ee).mean():.1f} ms); median {1000 * np.median(both):.1f} ms; "
        f"within 20 ms: {100 * (both <= 0.02).mean():.1f}%, within 50 ms: {100 * (both <= 0.05).mean():.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
