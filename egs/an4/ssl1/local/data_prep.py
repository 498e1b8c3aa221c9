#!/usr/bin/env python3
"""Kaldi dirs for HuBERT pre-training: AN4 train (real, 84 speakers) + the LJ Speech subset.

    python3 local/data_prep.py downloads/an4 LJSPEECH_DIR data [--n_valid_an4 30 --n_valid_lj 15]

Writes data/train and data/valid (wav.scp, text, utt2spk, spk2utt). AN4 *test* is left out
of them on purpose: it is the downstream ASR test set; ``--an4_test DIR`` writes only it, to
its own dir, an evaluation set for unit metrics (local/data.sh stage 4 adds phone labels). The valid split takes every k-th utterance so
that it spans speakers. Ids: ``an4-<spk>-<file>`` and ``lj-<clip>``.
"""
import argparse
import re
from pathlib import Path

from lst.data.kaldi_dir import write_data_dir

LINE = re.compile(r"^(?:<s>\s*)?(?P<text>.*?)(?:\s*</s>)?\s*\((?P<file>[^()]+)\)\s*$")


def an4_utts(an4: Path, part: str = "train"):
    fileids = {Path(f).name: f for f in (an4 / "etc" / f"an4_{part}.fileids").read_text().split()}
    trans = an4 / "etc" / f"an4_{part}.transcription"
    out = []
    for lineno, line in enumerate(trans.read_text().splitlines(), 1):
        m = LINE.match(line.strip())
        if not m or m["file"] not in fileids:
            raise SystemExit(f"{trans}:{lineno}: cannot parse or unknown file id: {line!r}")
        rel = fileids[m["file"]]
        spk = Path(rel).parent.name
        out.append((f"an4-{spk}-{m['file']}", f"an4-{spk}",
                    (an4 / "wav" / f"{rel}.sph").resolve(), m["text"].strip()))
    return out


def lj_utts(lj: Path):
    text = {}
    meta = lj / "metadata.csv"
    for lineno, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("|")
        if len(parts) != 3:
            raise SystemExit(f"{meta}:{lineno}: expected id|raw|normalized")
        text[parts[0]] = parts[2]
    out = []
    for flac in sorted((lj / "wavs").glob("*.flac")) + sorted((lj / "wavs").glob("*.wav")):
        if flac.stem not in text:
            raise SystemExit(f"{flac}: no row in {meta}")
        out.append((f"lj-{flac.stem}", "lj", flac.resolve(), text[flac.stem]))
    return out


def split(utts, n_valid):
    n_valid = min(n_valid, len(utts) // 4)  # small (test) corpora keep most for training
    if n_valid <= 0:
        return utts, []
    step = max(1, len(utts) // n_valid)
    valid = set(range(0, len(utts), step)[:n_valid])
    return ([u for i, u in enumerate(utts) if i not in valid],
            [u for i, u in enumerate(utts) if i in valid])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("an4_dir", type=Path)
    p.add_argument("lj_dir", type=Path, help="LJSpeech-1.1 (wavs/, metadata.csv); '' to skip")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--n_valid_an4", type=int, default=30)
    p.add_argument("--n_valid_lj", type=int, default=15)
    p.add_argument("--max_utts", type=int, default=0, help=">0: first N of each corpus (tests)")
    p.add_argument("--an4_test", type=Path, default=None, help="write only AN4 test, here (an eval set)")
    args = p.parse_args()
    if args.an4_test:
        test = an4_utts(args.an4_dir, "test")
        test = test[: args.max_utts] if args.max_utts > 0 else test
        write_data_dir(args.an4_test, test)
        print(f"data_prep: {args.an4_test}: {len(test)} AN4 test utterances")
        return
    an4 = an4_utts(args.an4_dir)
    lj = lj_utts(args.lj_dir) if str(args.lj_dir) not in ("", ".") else []
    if args.max_utts > 0:
        an4, lj = an4[: args.max_utts], lj[: args.max_utts]
    an4_train, an4_valid = split(an4, args.n_valid_an4)
    lj_train, lj_valid = split(lj, args.n_valid_lj)
    write_data_dir(args.data_dir / "train", an4_train + lj_train)
    write_data_dir(args.data_dir / "valid", an4_valid + lj_valid)
    print(f"data_prep: train {len(an4_train)} AN4 + {len(lj_train)} LJ, "
          f"valid {len(an4_valid)} AN4 + {len(lj_valid)} LJ")


if __name__ == "__main__":
    main()
