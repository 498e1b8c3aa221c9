#!/usr/bin/env python3
"""LJ Speech 1.1 (metadata.csv + wavs/) -> kaldi dirs train / valid / test.

    python3 local/data_prep.py downloads/LJSpeech-1.1 data [--nvalid 20] [--ntest 40] [--max_utts 0]

Only clips present in ``wavs/`` (``<id>.wav`` or ``<id>.flac``) are used, in id order; the last
``ntest`` are the test set, the ``nvalid`` before them the validation set, the rest train. The
text is metadata.csv's normalized column (numbers and abbreviations spelled out) through
``lst.downstream.recognizer.normalize_text`` (upper case, no punctuation), the form the
recognizer scores. Speaker: ``LJ``. Utterance ids are the release's (``LJ001-0001``).
"""
import argparse
import sys
from pathlib import Path

from lst.downstream.recognizer import normalize_text

SPEAKER = "LJ"


class PrepError(Exception):
    """Bad metadata (message names file and line)."""


def read_metadata(path: Path) -> dict:
    """id -> normalized text, from ``id|raw|normalized`` lines."""
    if not path.is_file():
        raise PrepError(f"{path}: not found (is this an unpacked LJSpeech-1.1?)")
    out = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("|")
        if len(parts) != 3:
            raise PrepError(f"{path}:{lineno}: expected 'id|raw text|normalized text', got {len(parts)} fields")
        utt, _, text = parts
        if utt in out:
            raise PrepError(f"{path}:{lineno}: id {utt} listed twice")
        out[utt] = normalize_text(text)
    return out


def find_audio(wav_dir: Path) -> dict:
    """id -> path of the clips present (.wav preferred over .flac)."""
    found = {}
    for ext in ("flac", "wav"):
        for p in wav_dir.glob(f"*.{ext}"):
            found[p.stem] = p
    return found


def write_dir(out: Path, utts, audio: dict, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "wav.scp", "w") as w, open(out / "text", "w") as t, open(out / "utt2spk", "w") as u:
        for utt in utts:
            w.write(f"{utt} {audio[utt]}\n")
            t.write(f"{utt} {meta[utt]}\n")
            u.write(f"{utt} {SPEAKER}\n")
    (out / "spk2utt").write_text(f"{SPEAKER} {' '.join(utts)}\n" if utts else "")


def split_ids(meta: dict, clips, nvalid: int = 20, ntest: int = 40, max_utts: int = 0, where: str = "wavs") -> dict:
    """The recipe's split, defined once (also used by egs/an4/ssl1's resynthesis stage): the clips
    with text in id order (the first ``max_utts`` if > 0), the last ``ntest`` = test, the ``nvalid``
    before them = valid, the rest = train."""
    unknown = sorted(set(clips) - set(meta))
    if unknown:
        raise PrepError(f"{where}: {len(unknown)} clips not in metadata.csv, e.g. {unknown[0]}")
    utts = sorted(u for u in set(clips) if meta[u])
    empty = len(set(clips)) - len(utts)
    if empty:
        print(f"data_prep.py: skipped {empty} clips with empty text", file=sys.stderr)
    if max_utts > 0:
        utts = utts[:max_utts]
    if ntest <= 0 or nvalid < 0 or nvalid + ntest >= len(utts):
        raise PrepError(f"--nvalid {nvalid} + --ntest {ntest} leave no training clips (or no test clip) of {len(utts)}")
    n_train = len(utts) - nvalid - ntest
    return {"train": utts[:n_train], "valid": utts[n_train:n_train + nvalid], "test": utts[n_train + nvalid:]}


def prepare(lj: Path, data: Path, nvalid: int = 20, ntest: int = 40, max_utts: int = 0) -> dict:
    meta = read_metadata(lj / "metadata.csv")
    audio = find_audio(lj / "wavs")
    if not audio:
        raise PrepError(f"{lj / 'wavs'}: no .wav or .flac clips")
    sets = split_ids(meta, audio, nvalid, ntest, max_utts, where=str(lj / "wavs"))
    for name, ids in sets.items():
        write_dir(data / name, ids, audio, meta)
    return {k: len(v) for k, v in sets.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lj_dir", type=Path)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--nvalid", type=int, default=20)
    p.add_argument("--ntest", type=int, default=40)
    p.add_argument("--max_utts", type=int, default=0)
    args = p.parse_args()
    try:
        counts = prepare(args.lj_dir, args.data_dir, args.nvalid, args.ntest, args.max_utts)
    except PrepError as e:
        sys.exit(f"data_prep.py: {e}")
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
