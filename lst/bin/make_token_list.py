"""Train a sentencepiece model on transcripts and write the joint speech-text token list.

    python -m lst.bin.make_token_list --text dump/raw/train/text --unit_info dump/units/train/unit_info.json \
        --nbpe 100 --bpe_prefix data/bpe/bpe --token_list data/token_list/tokens.txt

The token list layout is documented in lst/vocab.py. sentencepiece is asked for at most
``--nbpe`` pieces (hard limit off, so a tiny corpus gets what it supports instead of failing).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import sentencepiece as spm

from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.vocab import build_token_list, write_token_list


def train_bpe(transcripts, prefix: str, nbpe: int, model_type: str = "bpe") -> spm.SentencePieceProcessor:
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    # a fixed input path: sentencepiece stores it in the model, so a temp name would make
    # every re-run's bpe.model differ
    corpus = f"{prefix}.train.txt"
    Path(corpus).write_text("\n".join(transcripts) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        vocab_size=nbpe,
        model_type=model_type,
        character_coverage=1.0,
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        input_sentence_size=10_000_000,
        shuffle_input_sentence=True,
        minloglevel=2,
        num_threads=1,
    )
    return spm.SentencePieceProcessor(model_file=f"{prefix}.model")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="kaldi text file (utt transcript)")
    parser.add_argument("--unit_info", required=True, help="unit_info.json from lst.bin.dump_units")
    parser.add_argument("--nbpe", type=int, default=100)
    parser.add_argument("--bpe_type", default="bpe", choices=["bpe", "unigram"])
    parser.add_argument("--bpe_prefix", default="data/bpe/bpe")
    parser.add_argument("--token_list", default="data/token_list/tokens.txt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    try:
        text = read_kaldi_map(args.text, allow_empty_value=True)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    transcripts = [v for v in text.values() if v.strip()]
    if not transcripts:
        logging.error(f"{args.text}: no non-empty transcripts to train BPE on")
        return 1
    if not Path(args.unit_info).exists():
        logging.error(f"{args.unit_info} not found (made by stage 5: unit dump)")
        return 1
    n_units = int(json.loads(Path(args.unit_info).read_text())["n_units"])
    sp = train_bpe(transcripts, args.bpe_prefix, args.nbpe, args.bpe_type)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    tokens = build_token_list(pieces, n_units)
    write_token_list(tokens, args.token_list)
    logging.info(
        f"{args.bpe_prefix}.model: {sp.get_piece_size()} pieces from {len(transcripts)} transcripts; "
        f"{args.token_list}: {len(tokens)} tokens ({n_units} units)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
