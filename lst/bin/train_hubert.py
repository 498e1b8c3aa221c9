r"""HuBERT pre-training with ESPnet's SSL task (espnet2.tasks.ssl), made runnable here.

Two sub-commands:

    # targets + shape files for one iteration, from a unit dump (lst.bin.dump_units)
    python -m lst.bin.train_hubert prepare --raw_dir dump/raw/train \
        --units_dir dump/units/it0_mfcc_km100/train --out_dir exp/hubert_it1/data/train

    # ESPnet's trainer (same options as espnet2.bin.ssl_train)
    python -m lst.bin.train_hubert train --config conf/train_hubert_small.yaml ...

``prepare`` writes ``wav.scp``, ``text`` (frame-level unit ids, ESPnet's ``text_int``
format), ``speech_shape`` (samples), ``text_shape`` (frames) and ``token_list`` (unit ids
``0..K-1`` then ``<unk>``), keeping only utterances that have both audio and units and whose
unit count matches the 50 Hz frame count of the audio (counted, logged skips).

``train`` sets the HuBERT loss' ``num_classes`` to the length of ``--token_list`` (ESPnet's
``--loss`` option cannot take the list it needs): it writes ``<output_dir>/config_in.yaml``
(the ``--config`` with that one value changed) and trains with it.
"""
import sys

from lst.units.io import ToolError, run_tool, setup_logging


def prepare_main(argv) -> None:
    import argparse

    from lst.units.ssl import prepare_targets

    p = argparse.ArgumentParser(prog="train_hubert prepare")
    p.add_argument("--raw_dir", required=True, help="lst.bin.format_wav output (wav.scp, utt2dur)")
    p.add_argument("--units_dir", required=True, help="lst.bin.dump_units output (--dedup false)")
    p.add_argument("--out_dir", required=True)
    args = p.parse_args(argv)
    setup_logging()
    prepare_targets(args.raw_dir, args.units_dir, args.out_dir)


def train_main(argv) -> None:
    from lst.compat import SSL_TASK_PLACEHOLDERS, espnet_placeholders
    from lst.units.ssl import config_with_num_classes

    argv = config_with_num_classes(list(argv))
    with espnet_placeholders(SSL_TASK_PLACEHOLDERS):  # the SSL task never calls them
        from espnet2.bin.ssl_train import main as ssl_train_main

    ssl_train_main(argv)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ("prepare", "train"):
        raise ToolError("usage: python -m lst.bin.train_hubert {prepare|train} ... (see --help of each)")
    (prepare_main if argv[0] == "prepare" else train_main)(argv[1:])


if __name__ == "__main__":
    run_tool(main)
