"""Speak StoryCloze stories with espeak-ng and write kaldi data dirs with exact word timings.

Split (deterministic, by story): h = int(sha256(first sentence, stripped, lower-cased)) % 100;
``h < eval_percent`` -> held-out eval stories (never trained on), next ``valid_percent`` ->
valid, the rest -> train. Train stories are spoken in every ``--voices`` x ``--rates``
combination; valid stories once each (voices/rates cycled); held-out eval stories once each
in the ``--heldout_voices`` (never used for train/valid) -> ``test``.

Each utterance is one story: the four context sentences plus the right ending. Outputs per
set ``<out_dir>/<set>/{wav.scp,text,utt2spk,spk2utt,word_ctm}``; wavs (16 kHz, 16-bit) go to
``<wav_dir>/<set>/``. The held-out labelled stories go to ``--eval_stories_out`` as JSON lines::

    {"story_id": ..., "context": [s1, s2, s3, s4], "endings": [e1, e2], "label": 0|1,
     "heldout_voices": [...], "rates": [...]}

``label`` is the 0-based index of the right ending (AnswerRightEnding - 1).

Example::

    python local/synth_stories.py --csv downloads/cloze_val.csv --out_dir data \\
        --wav_dir dump/synth --n_stories 100 --voices en-us,en-us+f3,en,en-gb-scotland+m3 \\
        --heldout_voices en-029+f4 --rates 150,190 --nj 2
"""
import argparse
import csv
import hashlib
import json
import logging
import multiprocessing as mp
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import List

from lst.tts.espeak import INSTALL_HINT, espeak_available, tokenize_for_speech, voices_available
from lst.tts.speak import init_synth_worker, speaker_id, synth_job, write_kaldi_dir

CONTEXT_COLS = [f"InputSentence{i}" for i in range(1, 5)]
ENDING_COLS = ["RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2"]
ANSWER_COL = "AnswerRightEnding"


def story_hash(first_sentence: str) -> int:
    return int(hashlib.sha256(first_sentence.strip().lower().encode("utf-8")).hexdigest(), 16)


def split_of(first_sentence: str, eval_percent: int, valid_percent: int) -> str:
    h = story_hash(first_sentence) % 100
    if h < eval_percent:
        return "eval"
    if h < eval_percent + valid_percent:
        return "valid"
    return "train"


def read_stories(path) -> List[dict]:
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        need = CONTEXT_COLS + ENDING_COLS + [ANSWER_COL]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: missing columns {missing} (is this cloze_val.csv?)")
        stories = []
        for lineno, row in enumerate(reader, 2):
            ctx = [row[c].strip() for c in CONTEXT_COLS]
            ends = [row[c].strip() for c in ENDING_COLS]
            if not all(ctx) or not all(ends):
                raise SystemExit(f"{path}:{lineno}: empty sentence")
            if row[ANSWER_COL] not in ("1", "2"):
                raise SystemExit(f"{path}:{lineno}: {ANSWER_COL} must be 1 or 2, got {row[ANSWER_COL]!r}")
            sid = "sc" + hashlib.sha256(ctx[0].strip().lower().encode("utf-8")).hexdigest()[:10]
            stories.append({"story_id": sid, "context": ctx, "endings": ends, "label": int(row[ANSWER_COL]) - 1})
    seen = set()
    unique = []
    for s in stories:  # identical first sentences would collide in ids and split
        if s["story_id"] not in seen:
            seen.add(s["story_id"])
            unique.append(s)
    return unique


def story_text(story: dict) -> str:
    return " ".join(story["context"] + [story["endings"][story["label"]]])


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", required=True, help="cloze_val.csv (labelled StoryCloze stories)")
    p.add_argument("--out_dir", default="data", help="writes <out_dir>/{train,valid,test}")
    p.add_argument("--wav_dir", default="dump/synth", help="wavs go to <wav_dir>/<set>/<utt>.wav")
    p.add_argument("--eval_stories_out", default=None, help="JSON lines of held-out stories (default <out_dir>/eval_stories.jsonl)")
    p.add_argument("--n_stories", type=int, default=100, help="train stories (each spoken in every voice x rate); -1 = all")
    p.add_argument("--n_valid_stories", type=int, default=20)
    p.add_argument("--n_test_stories", type=int, default=40, help="held-out stories spoken for data/test; -1 = all")
    p.add_argument("--voices", default="en-us,en-us+f3,en,en-gb-scotland+m3", help="comma list of train voices")
    p.add_argument("--heldout_voices", default="en-029+f4", help="comma list of voices used only for test")
    p.add_argument("--rates", default="150,190", help="comma list of speaking rates (words per minute)")
    p.add_argument("--eval_percent", type=int, default=15, help="%% of stories held out for evaluation (by hash)")
    p.add_argument("--valid_percent", type=int, default=5)
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--nj", type=int, default=2)
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s synth_stories %(levelname)s: %(message)s")
    if not espeak_available():
        sys.exit(f"synth_stories: espeak-ng library not found. Install it with: {INSTALL_HINT}")
    voices = [v for v in args.voices.split(",") if v]
    held = [v for v in args.heldout_voices.split(",") if v]
    rates = [int(r) for r in args.rates.split(",") if r]
    if set(voices) & set(held):
        sys.exit(f"synth_stories: held-out voices {sorted(set(voices) & set(held))} are also train voices")
    if not voices or not held or not rates:
        sys.exit("synth_stories: need at least one train voice, one held-out voice and one rate")
    bad = [v for v in voices + held if v not in voices_available(voices + held)]
    if bad:
        sys.exit(f"synth_stories: espeak-ng does not know voice(s) {bad}; see `espeak-ng --voices=en`")

    stories = read_stories(args.csv)
    by_split = defaultdict(list)
    for s in stories:
        by_split[split_of(s["context"][0], args.eval_percent, args.valid_percent)].append(s)
    logging.info(
        "%d stories: %d train, %d valid, %d held-out eval (by sha256 of the first sentence)",
        len(stories), len(by_split["train"]), len(by_split["valid"]), len(by_split["eval"]),
    )
    out_dir = Path(args.out_dir)
    eval_out = Path(args.eval_stories_out) if args.eval_stories_out else out_dir / "eval_stories.jsonl"
    eval_out.parent.mkdir(parents=True, exist_ok=True)
    with eval_out.open("w", encoding="utf-8") as f:
        for s in by_split["eval"]:
            f.write(json.dumps(dict(s, heldout_voices=held, rates=rates)) + "\n")

    def cap(xs, n):
        return xs if n is None or n < 0 else xs[:n]

    jobs = {}  # set -> list of (utt, text, voice, rate, wav, spk)
    jobs["train"] = [
        (s, v, r) for s in cap(by_split["train"], args.n_stories) for v in voices for r in rates
    ]
    jobs["valid"] = [
        (s, voices[i % len(voices)], rates[i % len(rates)]) for i, s in enumerate(cap(by_split["valid"], args.n_valid_stories))
    ]
    jobs["test"] = [
        (s, held[i % len(held)], rates[i % len(rates)]) for i, s in enumerate(cap(by_split["eval"], args.n_test_stories))
    ]
    from tqdm import tqdm

    t0 = time.time()
    summary = {}
    # spawn: the parent already loaded libespeak-ng (voice check); forked copies misbehave
    with mp.get_context("spawn").Pool(max(1, args.nj), initializer=init_synth_worker, initargs=(args.sample_rate,)) as pool:
        for name, triples in jobs.items():
            work, meta = [], {}
            for s, v, r in triples:
                spk = speaker_id(v, r)
                utt = f"{spk}_{s['story_id']}"
                wav = str(Path(args.wav_dir) / name / f"{utt}.wav")
                text = " ".join(tokenize_for_speech(story_text(s)))
                work.append((utt, text, v, r, wav))
                meta[utt] = (spk, wav, text)
            entries, timings, errors, dur, n_split = [], {}, [], 0.0, 0
            for utt, words, d, n_sp, err in tqdm(
                pool.imap_unordered(synth_job, work, chunksize=4), total=len(work), desc=f"synth {name}", mininterval=5
            ):
                if err:
                    errors.append((utt, err))
                    logging.warning("utterance %s skipped: %s", utt, err)
                    continue
                spk, wav, text = meta[utt]
                entries.append((utt, spk, wav, text))
                timings[utt] = words
                dur += d
                n_split += n_sp
            write_kaldi_dir(out_dir / name, entries, timings)
            n_words = sum(len(w) for w in timings.values())
            summary[name] = (len(work), len(entries), len(errors), dur, n_words)
            logging.info(
                "%s: %d in, %d written, %d skipped%s; %.2f h, %d words (%d without their own espeak-ng word "
                "event, timed at a phoneme onset inside the joined word)",
                name, len(work), len(entries), len(errors),
                f" ({'; '.join(e for _, e in errors[:3])})" if errors else "", dur / 3600, n_words, n_split,
            )
    logging.info("synthesized in %.1f s; held-out eval stories -> %s", time.time() - t0, eval_out)
    total = sum(v[3] for v in summary.values())
    print(
        f"synth_stories: {sum(v[0] for v in summary.values())} in, {sum(v[1] for v in summary.values())} written, "
        f"{sum(v[2] for v in summary.values())} skipped; {total / 3600:.2f} h audio, "
        f"{sum(v[4] for v in summary.values())} words; {time.time() - t0:.1f} s"
    )
    return 0 if all(v[1] for v in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
