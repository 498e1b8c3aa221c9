"""Score a trained checkpoint (token baseline or LST) on a story-completion benchmark; print JSON.

    python -m lst.bin.story_eval --config exp/lst_x/config.yaml --model_file exp/lst_x/valid.loss.best.pth \
        --benchmark data/story_bench.jsonl [--out exp/lst_x/story_eval.json] [--scores_out scores.jsonl]

Output JSON: {"config", "model_file", "model", "patching", "params", "benchmark", "n_items",
"scoring", "results": {"<form>/<mode>": {"n", "raw": {"accuracy", "ci95", ...}, "norm": {...}}, ..., "all"}}.
``raw`` = summed log-likelihood of the ending given the context, ``norm`` = the same per
ending unit/token; CIs are 95% Wilson intervals (``--ci bootstrap`` for a percentile
bootstrap). The scoring rules and junction handling are documented in ``lst/eval/story.py``.

A damaged checkpoint or config is one line naming the file. Items the model cannot score (a
context + ending longer than its ``max_len``) are skipped and listed (``skipped`` in the
JSON: id and reason) instead of ending the run; the run fails only when nothing was scored.
When the model's ``train_inputs.json`` is found and the benchmark's directory has a completion
marker, a benchmark made from another k-means codebook is refused (lst/stage_io.py).
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
    p.add_argument("--benchmark", required=True, help="benchmark JSONL (egs/storycloze/lst1/local/story_benchmark.sh)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--ci", default="wilson", choices=["wilson", "bootstrap"])
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--scores_out", default=None, help="per-item scores (JSONL)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    return p


def score_robustly(model, vocab, items, batch_size: int, where: str, skipped: list, chunk: int = 256):
    """``score_items`` in chunks; a chunk that fails in the model (an item longer than its
    max_len) is rescored item by item and the failing items go to ``skipped``."""
    from lst.eval.story import BenchmarkError, score_items

    scored = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        try:
            scored += score_items(model, vocab, part, batch_size, where=where)
            continue
        except BenchmarkError:
            raise  # a malformed item: the file is wrong, not the model's limit
        except (ValueError, RuntimeError, IndexError):
            pass
        for it in part:
            try:
                scored += score_items(model, vocab, [it], batch_size, where=where)
            except BenchmarkError:
                raise
            except (ValueError, RuntimeError, IndexError) as e:
                reason = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
                skipped.append({"id": it.id, "reason": reason})
                logging.warning(f"{where}item {it.id}: cannot be scored ({reason}); skipped")
    return scored


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.batch_size < 1:
        get_parser().error("--batch_size must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (story_eval) %(levelname)s: %(message)s")
    for path in (args.config, args.model_file, args.benchmark):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    from lst.tasks.load import ModelLoadError, check_trained_on, load_model
    from lst.eval.story import BenchmarkError, read_benchmark, summarize
    from lst.stage_io import StageError
    from lst.vocab import SpeechTextVocab

    try:
        model, model_args = load_model(args.config, args.model_file, device=args.device)
        check_trained_on(args.config, args.model_file, [args.benchmark])
    except (ModelLoadError, StageError) as e:
        logging.error(str(e))
        return 1
    vocab = SpeechTextVocab(model_args.token_list)
    t0 = time.time()
    skipped = []
    try:
        items = read_benchmark(args.benchmark)
        scored = score_robustly(model, vocab, items, args.batch_size, f"{args.benchmark}: ", skipped)
    except BenchmarkError as e:
        logging.error(str(e))
        return 1
    if not scored:
        logging.error(f"{args.benchmark}: none of {len(items)} items could be scored; first: "
                      f"{skipped[0]['id']}: {skipped[0]['reason']}")
        return 1
    if skipped:
        logging.warning(f"{args.benchmark}: {len(skipped)} of {len(items)} items could not be scored "
                        "(listed in 'skipped')")
    summary = summarize(scored, args.ci)
    result = {
        "config": args.config, "model_file": args.model_file, "model": model_args.model,
        "patching": (model_args.model_conf or {}).get("patching") if model_args.model == "lst" else None,
        "params": sum(p.numel() for p in model.parameters()),
        "benchmark": args.benchmark, "n_items": len(scored), "eval_seconds": round(time.time() - t0, 2),
        "scoring": "raw: sum of log p(ending unit/token | context, previous ending); norm: raw / ending length; "
                   "ties count 0.5; CI 95% " + args.ci,
        "results": summary,
        "skipped": skipped,
    }
    text = json.dumps(result, indent=1)
    from lst.stage_io import atomic_write_file, io_error_message

    try:
        if args.out:
            atomic_write_file(args.out, lambda f: f.write(text + "\n"), encoding="utf-8")
        if args.scores_out:
            atomic_write_file(args.scores_out, lambda f: f.writelines(json.dumps(r) + "\n" for r in scored),
                              encoding="utf-8")
    except OSError as e:
        logging.error(io_error_message(args.out or args.scores_out, e))
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
