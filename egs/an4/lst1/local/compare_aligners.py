#!/usr/bin/env python3
"""Compare word aligners: boundary error against true timings, or agreement with each other.

    # error of each aligner against exact timings (espeak-ng), on the utterances all aligned
    local/compare_aligners.py --ref ref_word_ctm --hyp ctc=a.word_ctm --hyp pocketsphinx=b.word_ctm \
        --set heldout --out_json exp/align_eval/heldout.json

    # real speech (no reference): agreement of aligners with the first one,
    # plus spot checks (--spot utt1,utt2: both aligners' word times side by side)
    local/compare_aligners.py --hyp pocketsphinx=ps.word_ctm --hyp ctc=ctc.word_ctm --set an4_test \
        --spot fcaw-an406-b,mmxg-cen5-b --out_json exp/align_eval/an4_test.json

Errors: hyp - ref per word start and end; summary (lst.data.timings.boundary_error_summary):
mean/median |error| in ms, % of boundaries within 20/40/100 ms.

With --wav_scp, an energy check that needs no reference: 10 ms frames whose log energy is more
than --vad_db above the utterance's 10th-percentile frame (its noise floor) count as speech;
per aligner, speech_in_words_pct = % of speech frames inside some word, words_on_speech_pct =
% of in-word frames that are speech (a word placed on silence lowers it).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from lst.data.timings import boundary_error_summary, boundary_errors
from lst.data.timings import read_ctm


def summarise(ref, hyp, utts, pause_s: float = 0.1):
    """boundary_error_summary, plus the mean |error| of boundaries at a pause of the reference (a gap of
    >= ``pause_s`` before a start / after an end, or the utterance's edge) and of the others."""
    es, ee = zip(*(boundary_errors(ref[u], hyp[u], u) for u in utts))
    out = boundary_error_summary(np.concatenate(es), np.concatenate(ee))
    at_pause = []
    for u in utts:
        r = ref[u]
        gaps = [r[k + 1].start - r[k].end for k in range(len(r) - 1)]
        at_pause += [k == 0 or gaps[k - 1] >= pause_s for k in range(len(r))]   # starts
    for u in utts:
        r = ref[u]
        gaps = [r[k + 1].start - r[k].end for k in range(len(r) - 1)]
        at_pause += [k == len(r) - 1 or gaps[k] >= pause_s for k in range(len(r))]  # ends
    both = np.abs(np.concatenate([np.concatenate(es), np.concatenate(ee)]))
    at_pause = np.asarray(at_pause)
    out["pct_boundaries_at_pause"] = round(100 * float(at_pause.mean()), 1)
    out["mean_abs_ms_at_pause"] = round(1000 * float(both[at_pause].mean()), 1) if at_pause.any() else None
    out["mean_abs_ms_within_speech"] = round(1000 * float(both[~at_pause].mean()), 1) if (~at_pause).any() else None
    return out


def speech_frames(wav: str, vad_db: float = 15.0) -> np.ndarray:
    """[n_10ms_frames] bool: log energy more than ``vad_db`` above the 10th percentile."""
    from lst.audio import load_audio

    audio = load_audio(wav, 16000)
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10((frames.astype(np.float64) ** 2).mean(1) + 1e-10)
    return db > np.percentile(db, 10) + vad_db


def speech_intervals(speech: np.ndarray, min_frames: int = 5):
    """[(start s, end s)] of runs of speech frames at least ``min_frames`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    return [(round(a / 100, 2), round(b / 100, 2)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_frames]


def energy_check(wav_scp: str, hyp, utts, vad_db: float = 15.0):
    """(speech_in_words_pct, words_on_speech_pct) of one aligner's words over ``utts``."""
    from lst.data.kaldi_dir import read_kaldi_map

    wavs = read_kaldi_map(wav_scp)
    n_speech = n_speech_in = n_in = 0
    for utt in utts:
        speech = speech_frames(wavs[utt], vad_db)
        inside = np.zeros(len(speech), bool)
        for w in hyp[utt]:
            inside[int(round(w.start * 100)): int(round(w.end * 100))] = True
        n_speech += speech.sum()
        n_speech_in += (speech & inside).sum()
        n_in += inside.sum()
    return round(100 * n_speech_in / max(n_speech, 1), 1), round(100 * n_speech_in / max(n_in, 1), 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", default=None, help="true word timings (else: agreement with the first --hyp)")
    p.add_argument("--hyp", action="append", required=True, help="NAME=word_ctm (repeat)")
    p.add_argument("--set", required=True, help="name of the evaluation set (for the rows)")
    p.add_argument("--spot", default="", help="comma-separated utterances to list word by word")
    p.add_argument("--wav_scp", default=None, help="also run the energy check on this audio")
    p.add_argument("--vad_db", type=float, default=15.0)
    p.add_argument("--out_json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (compare_aligners) %(message)s")
    hyps = {}
    for spec in args.hyp:
        name, _, path = spec.partition("=")
        if not path:
            p.error(f"--hyp {spec!r}: expected NAME=word_ctm")
        hyps[name] = read_ctm(path)
    names = list(hyps)
    rows = []
    if args.ref:
        ref = read_ctm(args.ref)
        common = sorted(set(ref).intersection(*(set(h) for h in hyps.values())))
        if not common:
            logging.error("no utterance is in the reference and every aligner's output")
            return 1
        for name in names:
            row = {"set": args.set, "aligner": name, "vs": "true timings", "n_utts": len(common),
                   "n_utts_aligned": len(set(hyps[name]) & set(ref)), "n_utts_ref": len(ref)}
            row.update(summarise(ref, hyps[name], common))
            rows.append(row)
    else:
        if len(names) < 2:
            p.error("without --ref, give two --hyp to compare")
        a = names[0]
        for b in names[1:]:  # each against the first
            common = sorted(set(hyps[a]) & set(hyps[b]))
            row = {"set": args.set, "aligner": b, "vs": a, "n_utts": len(common)}
            row.update(summarise(hyps[a], hyps[b], common))
            rows.append(row)
    if args.wav_scp:
        common = sorted(set.intersection(*(set(h) for h in hyps.values())))
        for name in names:
            rec, prec = energy_check(args.wav_scp, hyps[name], common, args.vad_db)
            rows.append({"set": args.set, "aligner": name, "vs": f"energy (> floor + {args.vad_db:g} dB)",
                         "n_utts": len(common), "speech_in_words_pct": rec, "words_on_speech_pct": prec})
            print(f"{args.set}: {name}: energy check on {len(common)} utts: {rec}% of speech frames inside "
                  f"words, {prec}% of word frames are speech")
    for r in rows:
        if "n_words" not in r:
            continue
        print(f"{r['set']}: {r['aligner']} vs {r['vs']}: {r['n_utts']} utts, {r['n_words']} words, "
              f"mean |err| {r['mean_abs_ms']} ms, median {r['median_abs_ms']} ms, within 40 ms "
              f"{r['within_40ms_pct']}%, within 100 ms {r['within_100ms_pct']}%")
    spots = {}
    for utt in [u for u in args.spot.split(",") if u]:
        if not all(utt in h for h in hyps.values()):
            logging.warning("spot check %s: not aligned by every aligner; skipped", utt)
            continue
        spots[utt] = [{"word": w.word, **{n: [round(hyps[n][utt][k].start, 2), round(hyps[n][utt][k].end, 2)]
                                           for n in names}}
                      for k, w in enumerate(hyps[names[0]][utt])]
        if args.wav_scp:
            from lst.data.kaldi_dir import read_kaldi_map

            iv = speech_intervals(speech_frames(read_kaldi_map(args.wav_scp)[utt], args.vad_db))
            spots[utt].append({"speech_intervals": iv})
            print(f"{utt}: speech (energy) at " + " ".join(f"{a:.2f}-{b:.2f}" for a, b in iv))
        print(f"{utt}: " + "  ".join(f"{s['word']} " + "/".join(f"{n}:{s[n][0]:.2f}-{s[n][1]:.2f}" for n in names)
                                    for s in spots[utt] if "word" in s))
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(json.dumps({"rows": rows, "spot_checks": spots}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
