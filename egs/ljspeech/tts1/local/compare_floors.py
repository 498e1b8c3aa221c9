#!/usr/bin/env python3
"""Compare two resynthesis floors scored by pocketsphinx, each over several vocoder seeds.

    python local/compare_floors.py --ref_text ../lst1/dump/raw/test/text \
        --a ../lst1/exp/vocoder_floor_<A>_argmax{,_seed1,_seed2}/resynth_test/pocketsphinx/text \
        --b ../lst1/exp/vocoder_floor_<B>_argmax{,_seed1,_seed2}/resynth_test/pocketsphinx/text \
        [--utts ../lst1/exp/phone_units/test.ids] [--out compare.json]

Why: one vocoder seed moves a floor by up to 5.5 WER points (RESULTS.md), as much as the unit
sets differ. So every seed's hypotheses count, and a clip's seeds stay together in the paired bootstrap:
each clip contributes its reference once per seed and the seeds' hypotheses joined in order
(``lst.downstream.score.wer_paired_bootstrap``; the recognizer's text normaliser on both sides).
Prints, per system, the WER of each seed and their mean. It then prints the pooled difference
a - b with its 95 % interval. ``--utts`` restricts the clips (first column of each line), e.g. to
the 30 test clips pocketsphinx aligns.
"""
import argparse
import json

from lst.data.kaldi_dir import read_kaldi_map
from lst.downstream.recognizer import normalize_text, score_texts
from lst.downstream.score import wer_paired_bootstrap


def read_texts(path: str):
    return {u: normalize_text(t) for u, t in read_kaldi_map(path, allow_empty_value=True).items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_text", required=True)
    p.add_argument("--a", nargs="+", required=True, help="system a's hypothesis texts, one per vocoder seed")
    p.add_argument("--b", nargs="+", required=True, help="system b's, the same seeds in the same order")
    p.add_argument("--utts", default=None, help="score only these clips (first column of each line)")
    p.add_argument("--n_boot", type=int, default=2000)
    p.add_argument("--out", default=None, help="write the numbers as JSON")
    args = p.parse_args(argv)
    if len(args.a) != len(args.b):
        p.error(f"--a has {len(args.a)} seeds, --b {len(args.b)}: pair the same seeds")
    refs = read_texts(args.ref_text)
    if args.utts:
        with open(args.utts, encoding="utf-8") as f:
            keep = [line.split()[0] for line in f if line.strip()]
        unknown = sorted(set(keep) - set(refs))
        if unknown:
            p.error(f"{args.utts}: {len(unknown)} clip(s) not in {args.ref_text}, e.g. {unknown[0]}")
        refs = {u: refs[u] for u in keep}
    result = {"n_utts": len(refs), "seeds": len(args.a)}
    joined = {}
    for name, paths in (("a", args.a), ("b", args.b)):
        hyps = [read_texts(path) for path in paths]
        per_seed = [score_texts(refs, {u: h.get(u, "") for u in refs})["wer"] for h in hyps]
        result[name] = {"files": paths, "wer_per_seed": per_seed, "wer_mean": sum(per_seed) / len(per_seed)}
        joined[name] = {u: " ".join(h.get(u, "") for h in hyps) for u in refs}
    pooled_refs = {u: " ".join([r] * len(args.a)) for u, r in refs.items()}
    result["a_minus_b"] = wer_paired_bootstrap(pooled_refs, joined["a"], joined["b"], n_boot=args.n_boot)
    for name in ("a", "b"):
        r = result[name]
        print(f"{name}: WER per seed {' / '.join(f'{w:.2f}' for w in r['wer_per_seed'])}, mean {r['wer_mean']:.2f}")
    d = result["a_minus_b"]
    print(f"a - b (pooled over {len(args.a)} seeds, {d['n_utts']} clips): {d['difference']:+.2f} WER points, "
          f"95 % CI [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
