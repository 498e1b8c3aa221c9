"""Train a sentencepiece model on transcripts and write the joint speech-text token list.

    python -m lst.bin.make_token_list --text dump/raw/train/text --unit_info dump/units/train/unit_info.json \
        --nbpe 100 --bpe_prefix data/bpe/bpe --token_list data/token_list/tokens.txt

The token list layout is documented in lst/vocab.py. sentencepiece is asked for at most
``--nbpe`` pieces (hard limit off, so a tiny corpus gets what it supports instead of failing).
With ``--bpe_from`` an already trained sentencepiece model is copied instead (its pieces and ids
unchanged): this rebinds a model's text vocabulary to units from another k-means of the same
size, e.g. to continue a pretrained backbone on a new codebook (``--text`` is then only checked).

Every output file is written under a temporary name and renamed when complete; the
completion marker ``.done.json`` (lst/stage_io.py: counts, input fingerprints, and the
k-means lineage of ``--unit_info``) is written beside the token list and beside the BPE
model last, after the old ones were removed, so an interrupted run leaves no marker.
"""
import argparse
import json
import logging
import os
import sys
from pathlib import Path

import sentencepiece as spm

from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.stage_io import (StageError, atomic_write_file, check_input_file, fingerprint, io_error_message,
                          lineage_of, remove_marker, write_file_marker)
from lst.vocab import build_token_list


def train_bpe(transcripts, prefix: str, nbpe: int, model_type: str = "bpe") -> spm.SentencePieceProcessor:
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    # a fixed input path: sentencepiece stores it in the model, so a temp name would make
    # every re-run's bpe.model differ
    corpus = f"{prefix}.train.txt"
    atomic_write_file(corpus, lambda f: f.write("\n".join(transcripts) + "\n"), encoding="utf-8")
    partial = f"{prefix}.partial"  # a fixed name: sentencepiece stores it in the model too
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=partial,
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
    for ext in (".vocab", ".model"):  # the model last: it is what later stages look for
        os.replace(partial + ext, prefix + ext)
    return spm.SentencePieceProcessor(model_file=f"{prefix}.model")


def copy_bpe(model: str, prefix: str) -> spm.SentencePieceProcessor:
    """Copy a trained sentencepiece model (and its .vocab when present) to ``prefix``.{model,vocab}."""
    sp = spm.SentencePieceProcessor(model_file=model)  # a broken model fails here, not in a later stage
    vocab = (model[: -len(".model")] if model.endswith(".model") else model) + ".vocab"
    for src, ext in ((vocab, ".vocab"), (model, ".model")):  # the model last, as train_bpe
        if Path(src).exists() and Path(src).resolve() != Path(prefix + ext).resolve():
            data = Path(src).read_bytes()
            atomic_write_file(prefix + ext, lambda f, d=data: f.write(d), mode="wb")
    return sp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="kaldi text file (utt transcript)")
    parser.add_argument("--unit_info", required=True, help="unit_info.json from lst.bin.dump_units")
    parser.add_argument("--nbpe", type=int, default=100)
    parser.add_argument("--bpe_type", default="bpe", choices=["bpe", "unigram"])
    parser.add_argument("--bpe_prefix", default="data/bpe/bpe")
    parser.add_argument("--token_list", default="data/token_list/tokens.txt")
    parser.add_argument("--bpe_from", default="",
                        help="copy this trained sentencepiece .model (and its .vocab) instead of training one")
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
    if args.nbpe < 1:
        logging.error(f"--nbpe {args.nbpe}: must be >= 1")
        return 1
    if not Path(args.unit_info).exists():
        logging.error(f"{args.unit_info} not found (made by stage 5: unit dump)")
        return 1
    try:
        check_input_file(args.unit_info, "stage 5: python -m lst.bin.dump_units", "make_token_list")
        info = json.loads(Path(args.unit_info).read_text())
        n_units = int(info["n_units"])
        if n_units < 1:
            raise ValueError(f"n_units {n_units} < 1")
    except StageError as e:
        logging.error(str(e))
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        logging.error(f"{args.unit_info}: not a unit_info.json from dump_units ({type(e).__name__}: {e})")
        return 1
    inputs = {"text": fingerprint(args.text), "unit_info": fingerprint(args.unit_info)}
    if args.bpe_from:
        if not Path(args.bpe_from).is_file():
            logging.error(f"--bpe_from {args.bpe_from}: no such sentencepiece model")
            return 1
        inputs["bpe_from"] = fingerprint(args.bpe_from)
    token_dir, bpe_dir = Path(args.token_list).parent, Path(args.bpe_prefix).parent
    try:
        for d in {token_dir, bpe_dir}:
            d.mkdir(parents=True, exist_ok=True)
            remove_marker(d)
        if args.bpe_from:
            sp = copy_bpe(args.bpe_from, args.bpe_prefix)
        else:
            sp = train_bpe(transcripts, args.bpe_prefix, args.nbpe, args.bpe_type)
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        tokens = build_token_list(pieces, n_units)
        atomic_write_file(args.token_list, lambda f: f.write("".join(t + "\n" for t in tokens)), encoding="utf-8")
        # a trained model leaves all three; a copied one its .model and the .vocab when the source had one
        exts = (".model", ".vocab", ".train.txt") if not args.bpe_from else \
            [e for e in (".model", ".vocab") if Path(args.bpe_prefix + e).exists()]
        files = [args.token_list] + [args.bpe_prefix + ext for ext in exts]
        counts = {"transcripts": len(transcripts), "pieces": sp.get_piece_size(), "tokens": len(tokens),
                  "units": n_units}
        params = {"nbpe": args.nbpe, "bpe_type": args.bpe_type, "bpe_from": args.bpe_from or None}
        lineage = lineage_of(args.unit_info)
        for d in {token_dir, bpe_dir}:
            write_file_marker(d, "make_token_list", files, counts, params, inputs, lineage)
    except OSError as e:
        logging.error(f"make_token_list: {io_error_message(args.token_list, e)}")
        return 1
    logging.info(
        f"{args.bpe_prefix}.model: {sp.get_piece_size()} pieces from {len(transcripts)} transcripts; "
        f"{args.token_list}: {len(tokens)} tokens ({n_units} units)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
