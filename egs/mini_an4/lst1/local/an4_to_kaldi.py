#!/usr/bin/env python3
"""AN4 transcriptions + fileids -> kaldi-style data dirs (wav.scp, text, utt2spk, spk2utt).

Utterance ids are "<speaker>-<file>" so that sorting by id groups speakers (the kaldi rule).
The audio stays in its SPHERE files; stage 2 converts it to 16 kHz PCM wav.
"""
import argparse
import re
from pathlib import Path

from lst.data.kaldi_dir import write_data_dir

LINE = re.compile(r"^(?:<s>\s*)?(?P<text>.*?)(?:\s*</s>)?\s*\((?P<file>[^()]+)\)\s*$")


def read_split(an4: Path, split: str):
    fileids = (an4 / "etc" / f"an4_{split}.fileids").read_text().split()
    trans_path = an4 / "etc" / f"an4_{split}.transcription"
    entries = []
    for lineno, line in enumerate(trans_path.read_text().splitlines(), 1):
        m = LINE.match(line.strip())
        if not m:
            raise SystemExit(f"{trans_path}:{lineno}: cannot parse transcription line {line!r}")
        entries.append((m["file"], m["text"].strip()))
    by_file = {Path(f).name: f for f in fileids}
    out = []
    for name, text in entries:
        if name not in by_file:
            raise SystemExit(f"{trans_path}: {name} has no entry in an4_{split}.fileids")
        spk = Path(by_file[name]).parent.name
        wav = an4 / "wav" / f"{by_file[name]}.sph"  # relative to the recipe dir, as ESPnet writes it
        out.append((f"{spk}-{name}", spk, wav, text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("an4_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--valid_utts", nargs="*", default=[])
    args = parser.parse_args()
    train = read_split(args.an4_dir, "train")
    valid_ids = set(args.valid_utts)
    unknown = valid_ids - {u[0] for u in train}
    if unknown:
        raise SystemExit(f"--valid_utts: {sorted(unknown)} are not AN4 train utterances")
    write_data_dir(args.data_dir / "train", [u for u in train if u[0] not in valid_ids])
    write_data_dir(args.data_dir / "valid", [u for u in train if u[0] in valid_ids])
    write_data_dir(args.data_dir / "test", read_split(args.an4_dir, "test"))


if __name__ == "__main__":
    main()
