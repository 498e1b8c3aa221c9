"""Compute- and data-controlled training (lst.budget): plan a run or train within a budget.

    python -m lst.bin.budget plan --config conf/x.yaml --token_list data/token_list/tokens.txt \
        --corpus corpus/train/seqs --flop_budget 1e14 [--target_epochs 4] [--out_config exp/x/train.yaml]
    python -m lst.bin.budget train --flop_budget 1e14 <lst.bin.lst_train arguments>
    python -m lst.bin.budget train --seq_budget 20000 <lst.bin.lst_train arguments>
    python -m lst.bin.budget train --step_budget 500 --pack_len 512 --pack_rows 4 <lst.bin.lst_train arguments>

See lst/budget.py for the two protocols (``flops``, ``steps``) and the stop hook.
"""
import argparse
import contextlib
import json
import sys
from pathlib import Path

import yaml

# ESPnet's optional-import notices ("Failed to import Flash Attention ...") print to stdout,
# which the plan's JSON owns (recipes redirect it to plan.json): they go to stderr instead
with contextlib.redirect_stdout(sys.stderr):
    from lst import budget
    from lst.budget import BudgetLSTTask, apply_overrides, plan_training
from lst.vocab import read_token_list


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("plan", "train"):
        print(__doc__ + "\n" + budget.__doc__)
        return 2
    if argv[0] == "train":
        BudgetLSTTask.main(cmd=argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="python -m lst.bin.budget plan")
    p.add_argument("--config", required=True)
    p.add_argument("--token_list", required=True)
    p.add_argument("--corpus", required=True, help="training corpus (corpus/train/seqs)")
    p.add_argument("--flop_budget", type=float, default=None)
    p.add_argument("--seq_budget", type=int, default=None)
    p.add_argument("--step_budget", type=int, default=None)
    p.add_argument("--target_epochs", type=int, default=4)
    p.add_argument("--max_seqs", type=int, default=1000)
    p.add_argument("--out_config", default=None,
                   help="also write the config with the plan's overrides (epochs, iterations, curriculum) here")
    a = p.parse_args(argv[1:])
    config = yaml.safe_load(Path(a.config).read_text())
    with contextlib.redirect_stdout(sys.stderr):  # the model build may import more of ESPnet
        plan = plan_training(config, read_token_list(a.token_list), a.corpus, a.flop_budget, a.seq_budget,
                             a.target_epochs, max_seqs=a.max_seqs, step_budget=a.step_budget)
    print(json.dumps(plan, indent=1))
    if a.out_config:
        Path(a.out_config).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out_config).write_text(yaml.safe_dump(apply_overrides(config, plan["overrides"]), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
