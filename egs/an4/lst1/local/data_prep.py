#!/usr/bin/env python3
"""CMU AN4 (an4_sphere layout) -> kaldi dirs train / dev / test, as ESPnet's egs2/an4 recipe.

    python3 local/data_prep.py downloads/an4 data [--ndev_utt 100] [--max_utts 0]

Reads ``etc/an4_{train,test}.transcription`` (train lines ``<s> WORDS </s> (file)``, test lines
``WORDS (file)``). A file name ``an251-fash-b`` (prefix, speaker, gender/session) becomes the
utterance id ``fash-an251-b`` (speaker first, so sorting groups speakers: the kaldi rule).
Words are upper-cased. ``dev`` is the first ``ndev_utt`` train utterances in sorted id order
and ``train`` the rest (ESPnet's ``train_dev`` / ``train_nodev``). ``wav.scp`` names the SPHERE
files (16 kHz, 16-bit, read by soundfile) relative to the recipe directory.
"""
import argparse
import re
import sys
from pathlib import Path

from lst.data.kaldi_dir import write_data_dir

WAV_SUBDIR = {"train": "an4_clstk", "test": "an4test_clstk"}
LINE = re.compile(r"^(?:<s>\s+)?(?P<words>.*?)(?:\s+</s>)?\s*\((?P<file>[^()\s]+)\)$")


class PrepError(Exception):
    """A transcription line that cannot be used (message names file and line)."""


def parse_line(line: str, where: str):
    """'<s> GO </s> (an253-fash-b)' -> ('fash-an253-b', 'fash', 'an253-fash-b', 'GO')."""
    m = LINE.match(line.strip())
    if not m:
        raise PrepError(f"{where}: cannot parse transcription line {line.strip()!r}")
    parts = m["file"].split("-")
    if len(parts) != 3:
        raise PrepError(f"{where}: file name {m['file']!r} is not <prefix>-<speaker>-<suffix>")
    prefix, spk, suffix = parts
    words = " ".join(m["words"].upper().split())
    if not words:
        raise PrepError(f"{where}: empty transcription for {m['file']}")
    return f"{spk}-{prefix}-{suffix}", spk, m["file"], words


def read_split(an4: Path, split: str):
    """Sorted list of (utt, spk, sph path, words) for 'train' or 'test'."""
    trans = an4 / "etc" / f"an4_{split}.transcription"
    if not trans.is_file():
        raise PrepError(f"{trans}: not found (is {an4} an unpacked an4_sphere.tar.gz?)")
    utts = {}
    for lineno, line in enumerate(trans.read_text().splitlines(), 1):
        if not line.strip():
            continue
        utt, spk, name, words = parse_line(line, f"{trans}:{lineno}")
        if utt in utts:
            raise PrepError(f"{trans}:{lineno}: utterance {name} listed twice")
        sph = an4 / "wav" / WAV_SUBDIR[split] / spk / f"{name}.sph"
        if not sph.is_file():
            raise PrepError(f"{trans}:{lineno}: audio {sph} not found")
        utts[utt] = (utt, spk, sph, words)
    return [utts[u] for u in sorted(utts)]


def prepare(an4: Path, data: Path, ndev_utt: int = 100, max_utts: int = 0) -> dict:
    """Write data/{train,dev,test}; returns the number of utterances per set."""
    train = read_split(an4, "train")
    test = read_split(an4, "test")
    if ndev_utt >= len(train):
        raise PrepError(f"--ndev_utt {ndev_utt} leaves no training data ({len(train)} utterances)")
    sets = {"train": train[ndev_utt:], "dev": train[:ndev_utt], "test": test}
    counts = {}
    for name, utts in sets.items():
        if max_utts > 0:
            utts = utts[:max_utts]
        write_data_dir(data / name, utts)
        counts[name] = len(utts)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("an4_dir", type=Path, help="unpacked an4/ (with etc/ and wav/)")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--ndev_utt", type=int, default=100)
    parser.add_argument("--max_utts", type=int, default=0, help=">0: first N of each set (toy runs)")
    args = parser.parse_args()
    try:
        counts = prepare(args.an4_dir, args.data_dir, args.ndev_utt, args.max_utts)
    except PrepError as e:
        sys.exit(f"data_prep.py: {e}")
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
