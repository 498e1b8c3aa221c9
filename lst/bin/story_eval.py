"""Score a trained checkpoint (token baseline or LST) on a story-completion benchmark; print JSON.

    python -m lst.bin.story_eval --config exp/lst_x/config.yaml --model_file exp/lst_x/valid.loss.best.pth \
        --benchmark data/story_bench.jsonl [--out exp/lst_x/story_eval.json] [--scores_out scores.jsonl]

Output JSON: {"config", "model_file", "model", "patching", "params", "benchmark", "n_items",
"scoring", "results": {"<form>/<mode>": {"n", "raw": {"accuracy", "ci95", ...}, "norm": {...}}, ..., "all"}}.
``raw`` = summed log-likelihood of the ending given the context, ``norm`` = the same per
ending unit/token; CIs are 95% Wilson intervals (``--ci bootstrap`` for a percentile
bootstrap). The scoring rules and junction handling are documented in ``lst/eval/story.py``.
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config.yaml of the trained model")
    p.add_argument("--model_file", required=True, help="checkpoint (.pth)")
    p.add_argument("--benchmark", required=True, help="benchmark JSONL (lst.bin.make_story_benchmark)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--ci", default="wilson", choices=["wilson", "bootstrap"])
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--scores_out", default=None, help="per-item scores (JSONL)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (story_eval) %(levelname)s: %(message)s")
    for path in (args.config, args.model_file, args.benchmark):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    from lst.eval.story import BenchmarkError, evaluate_benchmark
    from lst.vocab import SpeechTextVocab

    from lst.tasks.lst import LSTTask

    model, model_args = LSTTask.build_model_from_file(args.config, args.model_file, device=args.device)
    model.eval()
    vocab = SpeechTextVocab(model_args.token_list)
    t0 = time.time()
    try:
        summary, scored = evaluate_benchmark(model, vocab, args.benchmark, args.batch_size, args.ci)
    except BenchmarkError as e:
        logging.error(str(e))
        return 1
    result = {
        "config": args.config, "model_file": args.model_file, "model": model_args.model,
        "patching": (model_args.model_conf or {}).get("patching") if model_args.model == "lst" else None,
        "params": sum(p.numel() for p in model.parameters()),
        "benchmark": args.benchmark, "n_items": len(scored), "eval_seconds": round(time.time() - t0, 2),
        "scoring": "raw: sum of log p(ending unit/token | context, previous ending); norm: raw / ending length; "
                   "ties count 0.5; CI 95% " + args.ci,
        "results": summary,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    if args.scores_out:
        Path(args.scores_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.scores_out, "w", encoding="utf-8") as f:
            for r in scored:
                f.write(json.dumps(r) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
