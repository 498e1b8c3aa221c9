r"""Train the frame phone classifier whose posteriors are ``--feature_type phone_posterior``.

    # phone spans of the training (and valid) audio from the transcripts, no training needed
    python -m lst.bin.ps_align --data_dir dump/raw/train --out_phone_ctm exp/phone_ali/train/phone_ctm
    python -m lst.bin.train_phone_classifier --wav_scp dump/raw/train/wav.scp \
        --phone_ctm exp/phone_ali/train/phone_ctm [--valid_wav_scp dump/raw/valid/wav.scp \
        --valid_phone_ctm exp/phone_ali/valid/phone_ctm] --out_dir exp/phone_classifier [--steps 1500] \
        [--speed_perturb 0.9,1.0,1.1] [--spec_augment true]

Writes ``model.pth`` (the checkpoint ``dump_features --feature_type phone_posterior --ssl_ckpt``
reads), ``phones.txt`` and ``train_info.json`` (steps, losses, valid frame accuracy, skips),
under a temporary name swapped into place when complete. Utterances without an alignment
(ps_align skips words missing from its dictionary) or with unreadable audio are skipped with a
logged, counted reason; frames of a valid phone the training set never had are not scored (logged,
counted). See lst/units/phones.py.
"""
import argparse
import json
import logging
import os

import torch

from lst.audio import AudioError, load_audio
from lst.data.timings import TimingError, read_ctm
from lst.stage_io import staged_dir
from lst.units.features import SAMPLE_RATE, MfccExtractor, num_frames_50hz
from lst.units.io import SkipReport, ToolError, read_kaldi_map, require_file, run_tool, setup_logging, str2bool
from lst.units.phones import (PhoneClassifierConfig, PhoneExample, SpecAugment, frame_phone_labels,
                              save_phone_classifier, speed_perturbed, train_phone_classifier)

logger = logging.getLogger("lst.train_phone_classifier")
TOOL = "train_phone_classifier"


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--phone_ctm", required=True, help="'utt phone start end' spans (lst.bin.ps_align)")
    p.add_argument("--valid_wav_scp", default=None)
    p.add_argument("--valid_phone_ctm", default=None)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--crop_frames", type=int, default=400, help="frames (50 Hz) of each training crop")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=PhoneClassifierConfig.hidden, help="BLSTM units per direction")
    p.add_argument("--n_layers", type=int, default=PhoneClassifierConfig.n_layers, help="BLSTM layers")
    p.add_argument("--dropout", type=float, default=PhoneClassifierConfig.dropout)
    p.add_argument("--speed_perturb", default="1.0",
                   help="speed factors of the training audio, space- or comma-separated (ESPnet's an4 recipe: "
                        "0.9,1.0,1.1; commas pass through lst.sh's --phone_classifier_args); spans scaled alike")
    p.add_argument("--spec_augment", type=str2bool, default=False,
                   help="SpecAugment-style time and feature masks on the training crops (lst.units.phones.SpecAugment)")
    p.add_argument("--verbose", action="store_true")
    return p


def read_phone_ctm(phone_ctm: str):
    try:
        return read_ctm(phone_ctm)
    except TimingError as e:
        raise ToolError(f"{TOOL}: {e}") from None


def load_examples(wav_scp: str, phone_ctm: str, spans, phone_index, report: SkipReport, speeds=(1.0,)):
    """MFCCs + frame labels of every utterance of ``wav_scp`` that ``spans`` (read from ``phone_ctm``) aligns,
    once per speed factor (ESPnet's ``sp<factor>-<utt>`` ids for factors other than 1)."""
    mfcc = MfccExtractor()
    examples = []
    wavs = read_kaldi_map(wav_scp)
    report.n_in += len(wavs)
    for i, (utt, source) in enumerate(wavs, 1):
        if utt not in spans:
            report.skip(utt, "no_alignment", phone_ctm)
            continue
        try:
            wav = load_audio(source, SAMPLE_RATE)
        except AudioError as e:
            report.skip(utt, e.reason, f"{e.path}: {e.detail}")
            continue
        if num_frames_50hz(len(wav)) == 0:  # MFCC's frame count, without computing them twice
            report.skip(utt, "too_short", source)
            continue
        unknown = sorted({s.word for s in spans[utt]} - set(phone_index))
        if unknown:  # only a valid set can have them: the phone set is the training set's
            logger.warning("%s: phone(s) %s not in the training set's phones; their frames are not scored",
                           utt, " ".join(unknown))
            report.notes["utterances with phones unseen in training (frames not scored)"] += 1
        for factor in speeds:
            audio, utt_spans = (wav, spans[utt]) if factor == 1.0 else speed_perturbed(wav, spans[utt], factor)
            feats = mfcc(audio)
            labels = frame_phone_labels(utt_spans, len(feats), phone_index)
            examples.append(PhoneExample(utt if factor == 1.0 else f"sp{factor:g}-{utt}", feats, labels))
        report.n_written += 1
        if i % 100 == 0:
            logger.info("%s: %d/%d utterances read", wav_scp, i, len(wavs))
    missing = sorted(set(spans) - {u for u, _ in wavs})
    if missing:
        report.notes[f"alignments without audio in {os.path.basename(wav_scp)}"] += len(missing)
    return examples


def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging(args.verbose)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if (args.valid_wav_scp is None) != (args.valid_phone_ctm is None):
        raise ToolError(f"{TOOL}: give both --valid_wav_scp and --valid_phone_ctm, or neither")
    for path, made_by in ((args.wav_scp, "python -m lst.bin.format_wav"), (args.phone_ctm, "python -m lst.bin.ps_align"),
                          (args.valid_wav_scp, "python -m lst.bin.format_wav"),
                          (args.valid_phone_ctm, "python -m lst.bin.ps_align")):
        if path is not None:
            require_file(TOOL, path, made_by)
    try:
        speeds = tuple(float(f) for f in args.speed_perturb.replace(",", " ").split())
    except ValueError:
        speeds = ()
    if not speeds or min(speeds) <= 0:
        raise ToolError(f"{TOOL}: --speed_perturb wants positive factors such as 0.9,1.0,1.1, "
                        f"got {args.speed_perturb!r}")
    train_spans = read_phone_ctm(args.phone_ctm)
    phones = sorted({s.word for v in train_spans.values() for s in v})
    phone_index = {p: i for i, p in enumerate(phones)}
    train_report = SkipReport(f"{TOOL} (train)", logger)
    train = load_examples(args.wav_scp, args.phone_ctm, train_spans, phone_index, train_report, speeds)
    train_report.finish()
    valid = []
    if args.valid_wav_scp:
        valid_report = SkipReport(f"{TOOL} (valid)", logger)
        valid = load_examples(args.valid_wav_scp, args.valid_phone_ctm, read_phone_ctm(args.valid_phone_ctm),
                              phone_index, valid_report)
        valid_report.finish()
    logger.info("%d phones; %d train, %d valid utterances", len(phones), len(train), len(valid))
    model, info = train_phone_classifier(train, valid, phones, steps=args.steps, batch_size=args.batch_size,
                                         crop_frames=args.crop_frames, lr=args.lr, seed=args.seed,
                                         augment=SpecAugment() if args.spec_augment else None,
                                         cfg=PhoneClassifierConfig(n_phones=len(phones), hidden=args.hidden,
                                                                   n_layers=args.n_layers, dropout=args.dropout))
    # n_train_utts counts the speed-perturbed copies; n_train_clips the aligned recordings
    info.update(speed_perturb=list(speeds), spec_augment=bool(args.spec_augment), n_train_clips=train_report.n_written)
    info["phones"] = phones
    info["skipped"] = {"train": train_report.counts(), **({"valid": valid_report.counts()} if valid else {})}
    with staged_dir(args.out_dir, TOOL) as stage:
        save_phone_classifier(model, phones, os.path.join(stage.path, "model.pth"), info)
        with open(os.path.join(stage.path, "phones.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(phones) + "\n")
        with open(os.path.join(stage.path, "train_info.json"), "w") as f:
            json.dump(info, f, indent=2)
        stage.complete(counts=train_report.counts(), params={"steps": args.steps, "seed": args.seed,
                                                             "n_phones": len(phones), "speed_perturb": list(speeds),
                                                             "spec_augment": bool(args.spec_augment)})
    logger.info("%s/model.pth: best valid frame accuracy %s, %.0f s", args.out_dir,
                info.get("best_valid_frame_acc"), info["train_seconds"])


if __name__ == "__main__":
    run_tool(main)
