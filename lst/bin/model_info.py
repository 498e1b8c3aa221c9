r"""Parameter count and training FLOPs per token of a model config (no weights are built).

    python -m lst.bin.model_info --config egs/storycloze/lst1/conf/paper_1b_lst.yaml
    python -m lst.bin.model_info --config conf/x.yaml --token_list data/token_list/tokens.txt
    python -m lst.bin.model_info --config conf/x.yaml --vocab_size 32506 --n_units 501 --speech_frac 0 0.257

The model is constructed on the ``meta`` device; FLOPs are the models' own training FLOPs
(3 x forward, lst/models/flops.py) per token of a synthetic sequence of ``--seq_len`` tokens
in which a fraction ``--speech_frac`` are speech units (0.257 = the paper's mix in baseline
tokens: 33 % interleaved documents with 0.77 speech / 0.23 text tokens, 67 % text; spec 9).
Without a token list the vocabulary is the paper's: the specials and markers, 32,000 BPE
pieces and 501 units. Prints a table, or JSON with ``--json``.
"""
import argparse
import json
import sys

import yaml

from lst.models.info import PAPER_TEXT_VOCAB, PAPER_UNITS, model_info


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="training YAML (model, model_conf)")
    p.add_argument("--token_list", default=None, help="joint token list (sets vocab_size and n_units)")
    p.add_argument("--vocab_size", type=int, default=None, help="default: 5 specials + n_text + n_units")
    p.add_argument("--n_units", type=int, default=PAPER_UNITS)
    p.add_argument("--n_text", type=int, default=PAPER_TEXT_VOCAB)
    p.add_argument("--seq_len", type=int, default=4096, help="tokens of the synthetic sequence")
    p.add_argument("--speech_frac", type=float, nargs="+", default=[0.0, 0.257, 0.77])
    p.add_argument("--json", action="store_true")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    if "model" not in config:
        print(f"{args.config}: no 'model:' key", file=sys.stderr)
        return 1
    vocab_size, n_units = args.vocab_size, args.n_units
    if args.token_list:
        from lst.vocab import SpeechTextVocab

        vocab = SpeechTextVocab.from_file(args.token_list)
        vocab_size, n_units = len(vocab), vocab.n_units
    info = model_info(config["model"], config.get("model_conf") or {}, vocab_size, n_units, args.n_text,
                      args.seq_len, tuple(args.speech_frac))
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    print(f"{args.config}: model {info['model']}, vocab {info['vocab_size']:,} ({info['n_units']} units)")
    print("parameters:")
    for k, v in info["params"].items():
        print(f"  {k:<24} {v / 1e6:>10,.1f} M")
    print(f"training FLOPs per token (3 x forward), {args.seq_len}-token sequence:")
    parts = [k for k in next(iter(info["flops"].values())) if k not in ("total", "global_positions_per_token")]
    print("  speech_frac  " + "  ".join(f"{k:>10}" for k in parts) + "       total  global pos/token")
    for f, r in info["flops"].items():
        print(f"  {f:>11.3f}  " + "  ".join(f"{r[k] / 1e9:>9.2f}G" for k in parts)
              + f"  {r['total'] / 1e9:>9.2f}G  {r['global_positions_per_token']:>16.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
