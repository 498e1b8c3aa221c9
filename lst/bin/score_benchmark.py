"""Score a checkpoint (token baseline or LST) on benchmark item files and/or held-out corpus
lines; print a table and write JSON.

    python -m lst.bin.score_benchmark --config exp/x/config.yaml --model_file exp/x/valid.loss.best.pth \
        --benchmark data/bench/sc.jsonl data/bench/blimp.jsonl --heldout corpus/valid/seqs \
        --out exp/x/bench.json --scores_out exp/x/bench_scores.jsonl

Output JSON: {"config", "model_file", "model", "patching", "params", "benchmarks", "n_items",
"eval_seconds", "scoring", "results": {"<benchmark>/<mode>": {"n", "chance", "raw": {"accuracy",
"ci95", ...}, "norm": {...}}}, "breakdown": {...per BLiMP field / paradigm...},
"heldout": {"speech": nats/unit, "text": nats/token, ...}, "heldout_by_model_file": {path: {...}}}.
Scoring rules:
``lst/eval/scorer.py``.
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
    p.add_argument("--benchmark", nargs="*", default=[], help="item files (lst.bin.make_benchmark)")
    p.add_argument("--heldout", default=None, help="corpus file (id + items per line) for held-out NLL")
    p.add_argument("--heldout_model_files", nargs="*", default=[],
                   help="more checkpoints of the same model: held-out NLL of each too (one process for a curve)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--max_tokens", type=int, default=8192, help="padded positions per batch (0: no cap)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--scores_out", default=None, help="per-item scores (JSONL)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (score_benchmark) %(levelname)s: %(message)s")
    if not args.benchmark and not args.heldout:
        logging.error("nothing to score: give --benchmark and/or --heldout")
        return 1
    if args.heldout_model_files and not args.heldout:
        logging.error("--heldout_model_files needs --heldout")
        return 1
    for path in [args.config, args.model_file, *args.benchmark, *args.heldout_model_files] + \
            ([args.heldout] if args.heldout else []):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    from lst.data.kaldi_dir import read_kaldi_map
    from lst.eval.benchmark import BenchmarkFormatError, read_items
    from lst.eval.scorer import format_table, heldout_nll, score_items, summarize, write_scores
    from lst.tasks.load import ModelLoadError, load_model
    from lst.vocab import SpeechTextVocab

    try:
        model, model_args = load_model(args.config, args.model_file, device=args.device)
    except ModelLoadError as e:
        logging.error(str(e))
        return 1
    vocab = SpeechTextVocab(model_args.token_list)
    t0 = time.time()
    result = {"config": args.config, "model_file": args.model_file, "model": model_args.model,
              "patching": (model_args.model_conf or {}).get("patching") if model_args.model == "lst" else None,
              "params": sum(p.numel() for p in model.parameters()), "benchmarks": args.benchmark,
              "scoring": "raw: sum of log p(candidate unit/token | context, earlier candidate items); norm: raw / "
                         "candidate length; a tie at the top counts 1/m; CI 95% Wilson"}
    try:
        if args.benchmark:
            items = [it for b in args.benchmark for it in read_items(b)]
            ids = [it["id"] for it in items]
            if len(set(ids)) != len(ids):
                logging.error("the benchmark files share item ids; score them separately")
                return 1
            scored = score_items(model, vocab, items, args.batch_size, args.max_tokens)
            summary = summarize(scored)
            result.update(n_items=len(scored), results=summary["results"], breakdown=summary["breakdown"])
            if args.scores_out:
                write_scores(scored, args.scores_out)
            print(format_table(summary))
        if args.heldout:
            lines = read_kaldi_map(args.heldout)
            result["heldout"] = heldout_nll(model, vocab, lines, args.batch_size, args.max_tokens)
            result["heldout"]["corpus"] = args.heldout
            print(f"held-out NLL ({args.heldout}): speech {result['heldout']['speech']} nats/unit, "
                  f"text {result['heldout']['text']} nats/token")
            by_file = {args.model_file: result["heldout"]}
            for f in args.heldout_model_files:
                if f not in by_file:
                    m, _ = load_model(args.config, f, device=args.device)
                    by_file[f] = heldout_nll(m, vocab, lines, args.batch_size, args.max_tokens)
                    print(f"held-out NLL of {f}: speech {by_file[f]['speech']}, text {by_file[f]['text']}")
            result["heldout_by_model_file"] = by_file
    except (BenchmarkFormatError, ModelLoadError) as e:
        logging.error(str(e))
        return 1
    result["eval_seconds"] = round(time.time() - t0, 2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.out).with_name(Path(args.out).name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
