#!/usr/bin/env python3
"""Expected training FLOPs of a sweep configuration, from the models' own accounting
(lst.budget.mean_flops_per_sequence) on a sample of the training corpus, without training:

    python3 local/expected_flops.py --token_list T --train <corpus_dir>/train/seqs \
        --sizes "s:256x4,m:512x8,l:768x12" --budget_epochs 4

Prints, per size and class: parameters, mean FLOPs per training sequence, and the FLOP budget
(= budget_epochs epochs of that size's token baseline) with the number of updates it buys.
"""
import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import BASELINE, CLASSES, parse_sizes, sized_config  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--token_list", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--sizes", default="s:128x2,m:256x4,l:384x6")
    p.add_argument("--classes", default="token_lm lst_static lst_curriculum")
    p.add_argument("--budget_epochs", type=float, default=2.0)
    p.add_argument("--conf_dir", default="conf")
    p.add_argument("--max_seqs", type=int, default=500)
    a = p.parse_args(argv)
    from lst.budget import build_model_from_config, mean_flops_per_sequence
    from lst.data.kaldi_dir import read_kaldi_map
    from lst.vocab import read_token_list

    tl = read_token_list(a.token_list)
    n_seqs = len(read_kaldi_map(a.train))
    print(f"corpus {a.train}: {n_seqs} sequences; budget = {a.budget_epochs} epochs of the size's {BASELINE}")
    print(f"{'size':<6} {'class':<16} {'params (M)':>10} {'FLOPs/seq':>10} {'budget':>10} {'updates':>8}")
    for size in parse_sizes(a.sizes):
        budget = None
        for cls in a.classes.split():
            conf = sized_config(yaml.safe_load((Path(a.conf_dir) / CLASSES[cls][0]).read_text()), size)
            model = build_model_from_config(conf, tl)
            est = mean_flops_per_sequence(model, a.train, tl, int(conf.get("max_seq_len", 0)), a.max_seqs)
            if budget is None:
                budget = a.budget_epochs * est["flops_per_seq"] * n_seqs
            updates = int(budget // (est["flops_per_seq"] * int(conf.get("batch_size", 16))))
            params = sum(q.numel() for q in model.parameters()) / 1e6
            print(f"{size.name:<6} {cls:<16} {params:>10.2f} {est['flops_per_seq']:>10.3g} {budget:>10.3g} {updates:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
