#!/usr/bin/env python3
"""ROCStories + LJ Speech training corpus for issue 17 (stage 1 of ./run.sh, via local/data.sh).

* Split of the ROCStories pool (deterministic, by story): h = sha256(lower-cased story) % 100;
  ``h < valid_percent`` -> valid, else train. No ROCStories story is in any Story Cloze set
  (the pool was filtered, ../shared/data/rocstories/README.md).
* Speech (kaldi dirs with word timings from espeak-ng itself):
  ``data/train``: the first ``--n_speech_stories`` train stories, each spoken ``--copies`` times,
  voice/rate pairs cycled over ``--voices`` x ``--rates`` (default: ``lst.tts.voices``);
  ``data/valid``: ``--n_valid_stories`` valid stories, once each (pairs cycled);
  ``data/test``: ``--n_test_stories`` labelled Story Cloze stories (context + right ending),
  spoken in the held-out voice at the held-out rate (``lst.tts.voices``): held-out NLL and the
  patch-boundary picture. The held-out voice and rate are refused for train/valid.
* Text only (``data/text_only/text``, kaldi text, words as espeak-ng would speak them): every
  train-split ROCStories story and every LJ Speech sentence (normalised column), unless
  ``--text_sources`` says otherwise. ``data/lm_text`` = train transcripts + text only (BPE input).
* ``data/corpus_stats.json``: hours, utterances, words per set and text-only words.
"""
import argparse
import csv
import hashlib
import json
import logging
import multiprocessing as mp
import sys
import time
from pathlib import Path

from lst.tts.speak import init_synth_worker, speaker_id, synth_job, write_kaldi_dir
from lst.eval.benchmark import read_storycloze
from lst.tts.espeak import espeak_available, INSTALL_HINT, tokenize_for_speech
from lst.tts.voices import HELDOUT_RATE, HELDOUT_VOICE, TRAINING_RATES, TRAINING_VOICES, check_training_voices


def split_of(story: str, valid_percent: int) -> str:
    h = int(hashlib.sha256(story.strip().lower().encode("utf-8")).hexdigest(), 16) % 100
    return "valid" if h < valid_percent else "train"


def read_pool(path):
    stories = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            s = " ".join(line.split())
            if s:
                stories.append((f"roc{lineno:05d}", s))
    return stories


def read_ljspeech(path):
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if len(row) < 3 or not row[2].strip():
                logging.warning("%s:%d: no normalised text; skipped", path, lineno)
                continue
            out.append((row[0], row[2].strip()))
    return out


def synth_set(pool, name, jobs, out_dir, wav_dir):
    """jobs: (utt_suffix, text, voice, rate) -> kaldi dir; returns (hours, utterances, words)."""
    work, meta = [], {}
    for suffix, text, v, r in jobs:
        spk = speaker_id(v, r)
        utt = f"{spk}_{suffix}"
        said = " ".join(tokenize_for_speech(text))
        wav = str(Path(wav_dir) / name / f"{utt}.wav")
        work.append((utt, said, v, r, wav))
        meta[utt] = (spk, wav, said)
    entries, timings, skipped, dur = [], {}, 0, 0.0
    t0 = time.time()
    for i, (utt, words, d, _, err) in enumerate(pool.imap_unordered(synth_job, work, chunksize=4), 1):
        if err:
            skipped += 1
            logging.warning("%s: utterance %s skipped: %s", name, utt, err)
        else:
            spk, wav, said = meta[utt]
            entries.append((utt, spk, wav, said))
            timings[utt] = words
            dur += d
        if i % 500 == 0:
            logging.info("%s: %d/%d utterances (%.0f s)", name, i, len(work), time.time() - t0)
    write_kaldi_dir(Path(out_dir) / name, entries, timings)
    n_words = sum(len(w) for w in timings.values())
    logging.info("%s: %d utterances (%d skipped), %.3f h, %d words", name, len(entries), skipped, dur / 3600, n_words)
    if not entries:
        raise SystemExit(f"prepare_data: no utterance of {name} was synthesized")
    return {"hours": dur / 3600, "utterances": len(entries), "skipped": skipped, "words": n_words,
            "speakers": sorted({e[1] for e in entries})}


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rocstories", required=True, help="rocstories_pool.txt")
    p.add_argument("--ljspeech_metadata", default=None, help="LJSpeech-1.1/metadata.csv (text only)")
    p.add_argument("--storycloze", nargs="+", required=True, help="labelled Story Cloze csv files (test set)")
    p.add_argument("--out_dir", default="data")
    p.add_argument("--wav_dir", default="dump/synth")
    p.add_argument("--n_speech_stories", type=int, default=2000, help="train stories spoken (-1: all)")
    p.add_argument("--copies", type=int, default=1, help="voice/rate renderings per spoken train story")
    p.add_argument("--n_valid_stories", type=int, default=100)
    p.add_argument("--n_test_stories", type=int, default=100)
    p.add_argument("--valid_percent", type=int, default=3)
    p.add_argument("--voices", default=",".join(TRAINING_VOICES))
    p.add_argument("--rates", default=",".join(map(str, TRAINING_RATES)))
    p.add_argument("--text_sources", default="rocstories,ljspeech", help="text-only sources (comma list; '' none)")
    p.add_argument("--nj", type=int, default=2)
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (prepare_data) %(levelname)s: %(message)s")
    if not espeak_available():
        raise SystemExit(f"prepare_data: espeak-ng not found; install it: {INSTALL_HINT}")
    voices = [v for v in args.voices.split(",") if v]
    rates = [int(r) for r in args.rates.split(",") if r]
    try:
        check_training_voices(voices, rates, where="prepare_data")
    except ValueError as e:
        raise SystemExit(str(e))
    combos = [(v, r) for v in voices for r in rates]
    pool_stories = read_pool(args.rocstories)
    split = {"train": [], "valid": []}
    for sid, s in pool_stories:
        split[split_of(s, args.valid_percent)].append((sid, s))
    logging.info("ROCStories: %d train, %d valid stories", len(split["train"]), len(split["valid"]))
    n_sp = len(split["train"]) if args.n_speech_stories < 0 else min(args.n_speech_stories, len(split["train"]))
    jobs = {"train": [], "valid": [], "test": []}
    for i, (sid, s) in enumerate(split["train"][:n_sp]):
        for c in range(args.copies):
            v, r = combos[(i * args.copies + c) % len(combos)]
            jobs["train"].append((sid, s, v, r))
    for i, (sid, s) in enumerate(split["valid"][: args.n_valid_stories]):
        v, r = combos[i % len(combos)]
        jobs["valid"].append((sid, s, v, r))
    sc = read_storycloze(args.storycloze)
    for st in sc[: args.n_test_stories]:
        text = " ".join(st["context"] + [st["endings"][st["label"]]])
        jobs["test"].append((st["story_id"], text, HELDOUT_VOICE, HELDOUT_RATE))
    out = Path(args.out_dir)
    stats = {"voices": voices, "rates": rates, "heldout_voice": HELDOUT_VOICE, "heldout_rate": HELDOUT_RATE}
    t0 = time.time()
    with mp.get_context("spawn").Pool(max(1, args.nj), initializer=init_synth_worker, initargs=(16000,)) as pool:
        for name in ("train", "valid", "test"):
            stats[name] = synth_set(pool, name, jobs[name], out, args.wav_dir)
    sources = [s for s in args.text_sources.split(",") if s]
    text_lines = []
    if "rocstories" in sources:
        text_lines += [(f"text{sid}", s) for sid, s in split["train"]]
    if "ljspeech" in sources:
        if not args.ljspeech_metadata or not Path(args.ljspeech_metadata).exists():
            raise SystemExit(f"prepare_data: --ljspeech_metadata {args.ljspeech_metadata!r} not found")
        text_lines += [(f"textlj{u.replace('-', '')}", t) for u, t in read_ljspeech(args.ljspeech_metadata)]
    (out / "text_only").mkdir(parents=True, exist_ok=True)
    n_text_words = 0
    with open(out / "text_only/text", "w", encoding="utf-8") as f:
        for u, t in sorted(text_lines):
            words = tokenize_for_speech(t)
            if words:
                n_text_words += len(words)
                f.write(f"{u} {' '.join(words)}\n")
    (out / "lm_text").mkdir(parents=True, exist_ok=True)
    with open(out / "lm_text/text", "w", encoding="utf-8") as f:
        for src in (out / "train/text", out / "text_only/text"):
            f.write(Path(src).read_text(encoding="utf-8"))
    stats["text_only"] = {"lines": len(text_lines), "words": n_text_words, "sources": sources}
    stats["seconds"] = round(time.time() - t0, 1)
    (out / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(f"prepare_data: speech train {stats['train']['hours']:.2f} h / {stats['train']['words']} words "
          f"({stats['train']['utterances']} utts, {len(stats['train']['speakers'])} voice-rate pairs); valid "
          f"{stats['valid']['hours']:.2f} h; test (held-out voice {HELDOUT_VOICE} @ {HELDOUT_RATE} wpm) "
          f"{stats['test']['hours']:.2f} h; text only {n_text_words} words ({len(text_lines)} lines); "
          f"{stats['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
