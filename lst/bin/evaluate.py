"""Per-kind, per-modality loss of a trained model on corpus files -> RESULTS.md.

    python -m lst.bin.evaluate --config exp/lst_x/config.yaml --model_file exp/lst_x/valid.loss.best.pth \
        --data valid=corpus/valid/seqs --data test=corpus/test/seqs --results exp/lst_x/RESULTS.md

Scores every sequence through the model's ``token_logprobs`` (the same log-likelihood API
that story-completion evaluation uses) and reports, per set and sequence kind (speech, text,
s2t, t2s, inter), the mean negative log-likelihood per text token and per speech unit.

The model's ``train_inputs.json`` (written by lst_train next to ``config.yaml``) is checked
first: data the model was trained or validated on must be unchanged since, and a corpus with a
completion marker must come from the same k-means codebook and token list (lst/stage_io.py),
so a model is never scored on units it was not trained on. RESULTS.md is written atomically.
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
from lst.tasks.load import ModelLoadError, check_trained_on, load_model


def _logprobs(model, prepared, skipped):
    """-> [(ids, batch, logp)]: token_logprobs of a batch; a batch the model cannot take (a
    sequence longer than its max_len) is retried one sequence at a time, and the sequences
    that still fail go to ``skipped`` as (id, reason)."""
    ids, batch = collate_sequences(prepared)
    try:
        return [(ids, batch, model.token_logprobs(batch["seq"], batch["seq_lengths"], batch["seg_start"]))]
    except (ValueError, RuntimeError, IndexError) as e:
        if len(prepared) > 1:
            return [part for item in prepared for part in _logprobs(model, [item], skipped)]
        reason = " ".join(str(e).split())[:200]
        skipped.append((ids[0], f"{type(e).__name__}: {reason} (length {int(batch['seq_lengths'][0])})"))
        logging.warning(f"{ids[0]}: cannot be scored ({skipped[-1][1]}); skipped")
        return []


@torch.no_grad()
def score_corpus(model, preprocessor, lines, batch_size: int = 8, skipped=None):
    """-> {kind: {"text": [nll_sum, n], "speech": [nll_sum, n], "sequences": n}}

    Sequences the model cannot score (longer than its ``max_len``) go to ``skipped`` as
    ``(id, reason)`` instead of ending the run."""
    totals = defaultdict(lambda: {"text": [0.0, 0], "speech": [0.0, 0], "sequences": 0})
    skipped = [] if skipped is None else skipped
    items = list(lines.items())
    unit_offset = preprocessor.vocab.unit_offset
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        prepared = [(k, preprocessor(k, {"seq": v})) for k, v in chunk]
        for ids, batch, logp in _logprobs(model, prepared, skipped):
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


def results_rows(rows):
    """The table's rows as dicts (the --results_json file)."""
    return [
        {"set": dset, "kind": kind, "sequences": t["sequences"], "text_nll": per_token(t["text"]),
         "speech_nll": per_token(t["speech"]), "text_tokens": t["text"][1], "speech_units": t["speech"][1]}
        for dset, kind, t in rows
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--data", action="append", required=True, help="NAME=corpus/<set>/seqs (repeatable)")
    parser.add_argument("--results", required=True)
    parser.add_argument("--results_json", default=None,
                        help="also write the rows as JSON: [{set, kind, sequences, text_nll, speech_nll, "
                             "text_tokens, speech_units}] (NLL in nats per token / unit, null where none)")
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch_size must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    from lst.stage_io import StageError

    specs = []
    for spec in args.data:
        if "=" not in spec:
            logging.error(f"--data {spec!r}: expected NAME=PATH")
            return 1
        specs.append(spec.split("=", 1))
    for _, path in specs:
        if not Path(path).is_file():
            logging.error(f"{path} not found (made by stage 7: corpus build)")
            return 1
    try:
        model, model_args = load_model(args.config, args.model_file)
        check_trained_on(args.config, args.model_file, [p for _, p in specs])
    except (ModelLoadError, StageError) as e:
        logging.error(str(e))
        return 1
    preprocessor = SequencePreprocessor(model_args.token_list)
    rows = []
    skipped = []
    for dset, path in specs:
        preprocessor.where = f"{path}: "
        try:
            lines = read_kaldi_map(path)
            if not lines:
                raise DataDirError(f"{path}: empty corpus (no sequences); rerun stage 7 (corpus build)")
            n_skipped = len(skipped)
            totals = score_corpus(model, preprocessor, lines, args.batch_size, skipped)
        except (DataDirError, SequenceFormatError) as e:
            logging.error(str(e))
            return 1
        if len(skipped) > n_skipped:
            logging.warning(f"{dset}: {len(skipped) - n_skipped} of {len(lines)} sequences could not be scored "
                            f"(listed above) and are not in the results")
        if not totals:
            logging.error(f"{path}: none of {len(lines)} sequences could be scored; first: "
                          f"{skipped[n_skipped][0]}: {skipped[n_skipped][1]}")
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
    if skipped:
        text += (f"\n{len(skipped)} sequences could not be scored and are not counted above: "
                 + ", ".join(f"`{i}` ({r})" for i, r in skipped[:20]) + (" ..." if len(skipped) > 20 else "") + "\n")
    from lst.stage_io import atomic_write_file, io_error_message

    outputs = [(args.results, text)]
    if args.results_json:
        outputs.append((args.results_json, json.dumps(results_rows(rows), indent=2) + "\n"))
    for path, content in outputs:
        try:
            atomic_write_file(path, lambda f, c=content: f.write(c), encoding="utf-8")
        except OSError as e:
            logging.error(io_error_message(path, e))
            return 1
    print(text)
    logging.info(f"wrote {', '.join(path for path, _ in outputs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
