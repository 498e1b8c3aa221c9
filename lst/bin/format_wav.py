r"""Rewrite a Kaldi data dir's audio as 16 kHz mono 16-bit PCM wavs, skipping bad files.

    python -m lst.bin.format_wav --wav_scp data/train/wav.scp --out_dir dump/raw/train \
        [--target_sr 16000] [--nj 4]

Writes ``out_dir/wav/<name>.wav`` (``<name>``: the id with ``%`` and ``/`` percent-escaped,
so ``a/b`` and ``a_b`` never share a file; see lst.data.kaldi_dir.utt_file_name), ``out_dir/wav.scp``, ``out_dir/utt2dur`` (seconds),
``out_dir/skipped`` (``utt reason detail``) and copies of the data dir's ``text``,
``utt2spk``, ``spk2utt`` and ``word_ctm`` (when present) restricted to the utterances kept.
Stereo is averaged to mono and other rates resampled; missing, unreadable and empty
files are skipped and counted. Exits 1 when every utterance was skipped.

The output directory is written under a temporary name and swapped into place with its
completion marker ``.done.json`` only when complete (lst/stage_io.py): a kill or a full
disk leaves the previous output or none.
"""
import argparse
import logging
import os

import numpy as np
import soundfile
from tqdm import tqdm

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import DataDirError, check_unique_file_names, utt_file_name
from lst.stage_io import staged_dir
from lst.units.io import (SkipReport, ToolError, input_fingerprints, ordered_map, read_kaldi_map,
                          require_file, run_tool, setup_logging, write_kaldi_map)

logger = logging.getLogger("lst.format_wav")
TOOL = "format_wav"
UTT_KEYED_FILES = ("text", "utt2spk", "word_ctm", "utt2lang", "utt2gender")


def safe_name(utt: str) -> str:
    """A file name for an utterance id (ids may contain '/'); injective over ids."""
    return utt_file_name(utt)


def convert_one(job, item):
    """Worker: load, repair and write one utterance; never raises for bad audio.

    Returns the path the file will have once the output directory is committed."""
    out_wav_dir, final_wav_dir, target_sr = job
    utt, source = item
    notes = []
    try:
        wav = load_audio(source, target_sr, notes=notes)
    except AudioError as e:
        return utt, None, 0, (e.reason, f"{e.path}: {e.detail}"), notes
    peak = float(np.max(np.abs(wav)))
    if peak > 1.0:
        notes.append("clipped")
        wav = np.clip(wav, -1.0, 1.0)
    name = safe_name(utt) + ".wav"
    soundfile.write(os.path.join(out_wav_dir, name), wav, target_sr, subtype="PCM_16")
    return utt, os.path.join(final_wav_dir, name), len(wav), None, notes


def copy_filtered(src_dir: str, out_dir: str, kept: set) -> None:
    """Copy utterance-keyed Kaldi files, keeping only surviving utterances."""
    for name in UTT_KEYED_FILES:
        src = os.path.join(src_dir, name)
        if not os.path.isfile(src):
            continue
        with open(src, encoding="utf-8") as f, \
                open(os.path.join(out_dir, name), "w", encoding="utf-8") as g:
            for line in f:
                fields = line.split(maxsplit=1)
                if fields and fields[0] in kept:
                    g.write(line if line.endswith("\n") else line + "\n")
    spk2utt = os.path.join(src_dir, "spk2utt")
    if os.path.isfile(spk2utt):
        entries = []
        for spk, utts in read_kaldi_map(spk2utt):
            utts = [u for u in utts.split() if u in kept]
            if utts:
                entries.append((spk, " ".join(utts)))
        write_kaldi_map(os.path.join(out_dir, "spk2utt"), entries)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True, help="Kaldi wav.scp (paths or 'cmd |' pipes)")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--target_sr", type=int, default=16000)
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.target_sr < 1000:
        raise ToolError(f"{TOOL}: --target_sr {args.target_sr}: must be a sample rate in Hz (>= 1000)")
    require_file(TOOL, args.wav_scp, "the data preparation stage")
    src_dir = os.path.dirname(os.path.abspath(args.wav_scp))
    if os.path.isfile(os.path.join(src_dir, "segments")):
        raise ToolError(f"{TOOL}: {src_dir}/segments found; segmented data dirs are not "
                        "supported, give one wav.scp entry per utterance")
    items = read_kaldi_map(args.wav_scp)
    try:
        check_unique_file_names([u for u, _ in items], args.wav_scp)
    except DataDirError as e:
        raise ToolError(f"{TOOL}: {e}") from None
    inputs = input_fingerprints(wav_scp=args.wav_scp)

    with staged_dir(args.out_dir, TOOL) as stage:
        wav_dir = os.path.join(stage.path, "wav")
        os.makedirs(wav_dir)
        report = SkipReport(TOOL, logger)
        report.n_in = len(items)
        scp, utt2dur = [], []
        results = ordered_map(convert_one, items, args.nj, initializer=tuple,  # state = (dirs, sr)
                              initargs=((wav_dir, stage.final_path("wav"), args.target_sr),))
        for utt, path, n_samples, failure, notes in tqdm(results, total=len(items), desc=TOOL,
                                                        mininterval=5, disable=None):
            report.notes.update(notes)
            if path is None:
                report.skip(utt, *failure)
                continue
            scp.append((utt, path))
            utt2dur.append((utt, f"{n_samples / args.target_sr:.4f}"))
            report.n_written += 1

        write_kaldi_map(os.path.join(stage.path, "wav.scp"), scp)
        write_kaldi_map(os.path.join(stage.path, "utt2dur"), utt2dur)
        write_kaldi_map(os.path.join(stage.path, "skipped"),
                        [(utt, f"{reason} {detail}".strip()) for utt, reason, detail in report.skips])
        copy_filtered(src_dir, str(stage.path), {utt for utt, _ in scp})
        report.finish()  # raises (and leaves the old output) when nothing was written
        stage.complete(counts=report.counts(), params={"target_sr": args.target_sr}, inputs=inputs)
    logger.info("%s: %s complete", TOOL, args.out_dir)


if __name__ == "__main__":
    run_tool(main)
