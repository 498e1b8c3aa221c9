"""Per-kind, per-modality loss of a trained model on corpus files -> RESULTS.md.

    python -m lst.bin.evaluate --config exp/lst_x/config.yaml --model_file exp/lst_x/valid.loss.best.pth \
        --data valid=corpus/valid/seqs --data test=corpus/test/seqs --results exp/lst_x/RESULTS.md

Scores every sequence through the model's ``token_logprobs`` (the same log-likelihood API
that story-completion evaluation uses) and reports, per set and sequence kind (speech, text,
s2t, t2s, inter), the mean negative log-likelihood per text token and per speech unit.
"""
import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from lst.data.batch import SequencePreprocessor, collate_sequences
from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.data.sequence_format import SequenceFormatError, sequence_kind


def load_model(config: str, model_file: str):
    from lst.tasks.lst import LSTTask

    model, args = LSTTask.build_model_from_file(config, model_file, device="cpu")
    model.eval()
    return model, args


@torch.no_grad()
def score_corpus(model, preprocessor, lines, batch_size: int = 8):
    """-> {kind: {"text": [nll_sum, n], "speech": [nll_sum, n], "sequences": n}}"""
    totals = defaultdict(lambda: {"text": [0.0, 0], "speech": [0.0, 0], "sequences": 0})
    items = list(lines.items())
    unit_offset = preprocessor.vocab.unit_offset
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        ids, batch = collate_sequences([(k, preprocessor(k, {"seq": v})) for k, v in chunk])
        logp = model.token_logprobs(batch["seq"], batch["seq_lengths"], batch["seg_start"])
        for i, seq_id in enumerate(ids):
            n = int(batch["seq_lengths"][i])
            targets = batch["seq"][i, 1:n]
            nll = -logp[i, 1:n]
            is_unit = targets >= unit_offset
            t = totals[sequence_kind(seq_id)]
            t["sequences"] += 1
            t["speech"][0] += float(nll[is_unit].sum())
            t["speech"][1] += int(is_unit.sum())
            t["text"][0] += float(nll[~is_unit].sum())
            t["text"][1] += int((~is_unit).sum())
    return totals


def per_token(pair):
    total, n = pair
    return total / n if n else None


def fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def results_markdown(model_args, n_params: int, rows, config: str, model_file: str) -> str:
    lines = [
        "# RESULTS",
        "",
        f"- model: `{model_args.model}` ({n_params / 1e6:.2f} M parameters)",
        f"- model_conf: `{json.dumps(model_args.model_conf, sort_keys=True)}`",
        f"- config: `{config}`, checkpoint: `{model_file}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        "Mean negative log-likelihood (nats) per predicted position, from `token_logprobs`. "
        "\"text\" counts BPE tokens, modality markers and `<sos/eos>`; \"speech\" counts units.",
        "",
        "| set | kind | sequences | text NLL/token | speech NLL/unit | text tokens | speech units |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for dset, kind, t in rows:
        lines.append(
            f"| {dset} | {kind} | {t['sequences']} | {fmt(per_token(t['text']))} | {fmt(per_token(t['speech']))} "
            f"| {t['text'][1]} | {t['speech'][1]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--data", action="append", required=True, help="NAME=corpus/<set>/seqs (repeatable)")
    parser.add_argument("--results", required=True)
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    for path in (args.config, args.model_file):
        if not Path(path).exists():
            logging.error(f"{path} not found")
            return 1
    from lst.train.trainer import checkpoint_problem

    problem = checkpoint_problem(args.model_file)
    if problem:
        logging.error(f"{args.model_file}: cannot be loaded ({problem})")
        return 1
    model, model_args = load_model(args.config, args.model_file)
    preprocessor = SequencePreprocessor(model_args.token_list)
    rows = []
    for spec in args.data:
        if "=" not in spec:
            logging.error(f"--data {spec!r}: expected NAME=PATH")
            return 1
        dset, path = spec.split("=", 1)
        preprocessor.where = f"{path}: "
        try:
            totals = score_corpus(model, preprocessor, read_kaldi_map(path), args.batch_size)
        except (DataDirError, SequenceFormatError) as e:
            logging.error(str(e))
            return 1
        for kind in sorted(totals):
            t = totals[kind]
            rows.append((dset, kind, t))
            logging.info(
                f"{dset} {kind}: {t['sequences']} seqs, text NLL/token {fmt(per_token(t['text']))}, "
                f"speech NLL/unit {fmt(per_token(t['speech']))}"
            )
    n_params = sum(p.numel() for p in model.parameters())
    text = results_markdown(model_args, n_params, rows, args.config, args.model_file)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text, encoding="utf-8")
    print(text)
    logging.info(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
