"""Build the story-completion benchmarks (S->S, T->T, S->T, T->S; cloze and topic forms) from
the held-out StoryCloze stories.

    python local/make_story_benchmark.py --eval_stories data/eval_stories.jsonl \
        --bpe_model data/bpe/bpe.model --km_dir exp/kmeans_mfcc_25hz_100 \
        --feature_type mfcc --frame_rate_hz 25 --work_dir dump/story_bench --out data/story_bench.jsonl

Input: the held-out stories written by ``local/synth_stories.py`` (``data/eval_stories.jsonl``:
story_id, context [4 sentences], endings [2], label, heldout_voices, rates) - never trained on.

Forms:
* ``cloze``: the right vs the wrong fifth sentence as written in StoryCloze (label as in the data);
* ``topic`` (TWIST tStoryCloze style): the right ending vs the right ending of another
  held-out story drawn with ``random.Random(seed)``; the position of the right ending is
  drawn with the same generator (deterministic for a given story list and seed).

Text side: the sentences are tokenised like the training text (``tokenize_for_speech``, the
words the synthesizer speaks) and encoded with the recipe's sentencepiece model.
Speech side: the context (4 sentences, one utterance) and every ending (one utterance each)
are spoken by espeak-ng in a held-out voice (``--voices``, default the stories' own
``heldout_voices``, cycled over stories) at ``--rate``; then the recipe's own unit pipeline
runs on them: ``lst.bin.format_wav`` -> ``lst.bin.dump_features`` (same feature type and frame
rate as training) -> ``lst.bin.dump_units`` with the training k-means model (``--km_dir``).
Speech spans carry the word/silence segments from the synthesizer's word timings
(``lst.data.timings.unit_segments``), exactly like the training corpus.

Output: one JSON line per item (format and the context/ending junction rule:
``lst/eval/story.py``); ``story_id`` and ``voice`` are added as extra keys.
"""
import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Dict, List

from lst.eval.story import MODES, StoryItem, write_benchmark
from lst.tts.espeak import tokenize_for_speech
from lst.tts.speak import speak_and_unitize


def read_stories(path) -> List[Dict]:
    stories = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                s = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{lineno}: not JSON ({e})")
            for key in ("story_id", "context", "endings", "label"):
                if key not in s:
                    raise SystemExit(f"{path}:{lineno} (story {s.get('story_id', '?')}): missing {key!r}")
            if len(s["context"]) != 4 or len(s["endings"]) != 2 or s["label"] not in (0, 1):
                raise SystemExit(f"{path}:{lineno} (story {s['story_id']}): need 4 context sentences, "
                                 f"2 endings and label 0/1")
            stories.append(s)
    if len(stories) < 2:
        raise SystemExit(f"{path}: need at least 2 stories (topic form draws endings of other stories)")
    return stories


def topic_pairs(stories: List[Dict], seed: int):
    """Per story: (index of the story whose right ending is the distractor, label position)."""
    rng = random.Random(seed)
    out = []
    for i in range(len(stories)):
        j = rng.randrange(len(stories) - 1)
        j += j >= i
        out.append((j, rng.randrange(2)))
    return out


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval_stories", required=True, help="held-out stories JSONL (local/synth_stories.py)")
    p.add_argument("--bpe_model", required=True)
    p.add_argument("--km_dir", default=None, help="training k-means dir (km.pkl); needed for spoken modes")
    p.add_argument("--feature_type", default="mfcc", choices=["mfcc", "ssl", "espnet_ssl"])
    p.add_argument("--frame_rate_hz", type=int, default=50)
    p.add_argument("--ssl_ckpt", default=None)
    p.add_argument("--ssl_layer", type=int, default=9)
    p.add_argument("--voices", default=None, help="comma list of held-out voices (default: the stories' heldout_voices)")
    p.add_argument("--rate", type=int, default=None, help="speaking rate, wpm (default: the stories' first rate)")
    p.add_argument("--n_stories", type=int, default=-1, help="first N held-out stories (-1: all)")
    p.add_argument("--forms", default="cloze,topic")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work_dir", default="dump/story_bench")
    p.add_argument("--out", required=True)
    p.add_argument("--nj", type=int, default=2)
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (make_story_benchmark) %(levelname)s: %(message)s")
    t0 = time.time()
    forms = [f for f in args.forms.split(",") if f]
    modes = [m for m in args.modes.split(",") if m]
    bad = [f for f in forms if f not in ("cloze", "topic")] + [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"make_story_benchmark: unknown form/mode {bad} (forms cloze,topic; modes {MODES})")
    stories = read_stories(args.eval_stories)
    if args.n_stories >= 0:
        stories = stories[: args.n_stories]
    if len(stories) < 2:
        raise SystemExit("make_story_benchmark: need at least 2 stories")
    import sentencepiece as spm

    if not Path(args.bpe_model).exists():
        raise SystemExit(f"{args.bpe_model} not found (stage 6 of the recipe makes it)")
    sp = spm.SentencePieceProcessor(model_file=args.bpe_model)

    def words(text: str) -> str:
        return " ".join(tokenize_for_speech(text))

    def text_item(text: str) -> str:
        return "<t> " + " ".join(sp.encode(words(text), out_type=str))

    pairs = topic_pairs(stories, args.seed)
    need_speech = any("S" in m for m in modes)
    speech = {}
    if need_speech:
        if not args.km_dir or not (Path(args.km_dir) / "km.pkl").exists():
            raise SystemExit(f"make_story_benchmark: --km_dir {args.km_dir!r} has no km.pkl (stage 4 makes it)")
        voices = [v for v in (args.voices or "").split(",") if v] or list(stories[0].get("heldout_voices") or [])
        if not voices:
            raise SystemExit("make_story_benchmark: no held-out voice (--voices, or heldout_voices in the stories file)")
        if args.rate is None:
            args.rate = int((stories[0].get("rates") or [175])[0])
        utts = {}
        for i, s in enumerate(stories):
            v = voices[i % len(voices)]
            s["_voice"] = v
            utts[f"{s['story_id']}_ctx"] = (words(" ".join(s["context"])), v)
            for k in range(2):
                utts[f"{s['story_id']}_end{k}"] = (words(s["endings"][k]), v)
        logging.info("speaking %d utterances (%d stories) in voice(s) %s at %d wpm", len(utts), len(stories),
                     voices, args.rate)
        speech = speak_and_unitize(utts, args)

    def ctx_item(s, mod):
        return speech[f"{s['story_id']}_ctx"] if mod == "S" else text_item(" ".join(s["context"]))

    def end_item(s, k, mod):
        return speech[f"{s['story_id']}_end{k}"] if mod == "S" else text_item(s["endings"][k])

    items = []
    for form in forms:
        for mode in modes:
            cm, em = mode.split("->")
            for i, s in enumerate(stories):
                if form == "cloze":
                    endings = [end_item(s, 0, em), end_item(s, 1, em)]
                    label = s["label"]
                    extra = {}
                else:
                    j, label = pairs[i]
                    o = stories[j]
                    right, other = end_item(s, s["label"], em), end_item(o, o["label"], em)
                    endings = [right, other] if label == 0 else [other, right]
                    extra = {"distractor_story": o["story_id"]}
                extra = dict(story_id=s["story_id"], **extra)
                if "S" in mode:
                    extra["voice"] = s["_voice"]
                    extra["rate"] = args.rate
                items.append(StoryItem(f"{s['story_id']}-{form}-{cm}2{em}", form, mode, ctx_item(s, cm), endings,
                                       label, extra))
    write_benchmark(items, args.out)
    print(f"make_story_benchmark: {len(stories)} stories -> {len(items)} items ({','.join(forms)} x "
          f"{','.join(modes)}) -> {args.out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
