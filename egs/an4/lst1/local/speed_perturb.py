#!/usr/bin/env python3
"""Speed perturbation of a formatted (16 kHz PCM) kaldi dir, as Kaldi's perturb_data_dir_speed.sh
(sox ``speed``: tempo and pitch change together, the length becomes len / factor).

    python3 local/speed_perturb.py dump/raw/train dump/raw/train_sp --factors 0.9 1.0 1.1

Utterance and speaker ids of factor f != 1 get the prefix ``sp<f>-``; factor 1.0 keeps the
originals (same wav paths). Writes wav/, wav.scp, text, utt2spk, spk2utt, utt2dur in out_dir.
The resampling is soxr's (the library lst.audio uses), reading the samples as if recorded at
f * 16 kHz and resampling to 16 kHz.
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile
import soxr


def read_map(path: Path) -> dict:
    out = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            sys.exit(f"speed_perturb.py: {path}:{lineno}: expected '<utt> <value>', got {line!r}")
        out[parts[0]] = parts[1]
    return out


def perturb(wav: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Play ``wav`` ``factor`` times faster (len / factor samples), pitch shifted with it."""
    if factor == 1.0:
        return wav
    return soxr.resample(wav, sr * factor, sr, quality="HQ").astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--factors", type=float, nargs="+", default=[0.9, 1.0, 1.1])
    args = p.parse_args()
    wavs = read_map(args.src_dir / "wav.scp")
    text = read_map(args.src_dir / "text")
    spk = read_map(args.src_dir / "utt2spk")
    (args.out_dir / "wav").mkdir(parents=True, exist_ok=True)
    rows = []  # (utt, spk, path, text, dur)
    for f in args.factors:
        pre = "" if f == 1.0 else f"sp{f:g}-"
        for utt, path in wavs.items():
            if utt not in text or utt not in spk:
                sys.exit(f"speed_perturb.py: {args.src_dir}: {utt} has no text or utt2spk entry")
            if f == 1.0:
                info = soundfile.info(path)
                rows.append((utt, spk[utt], path, text[utt], info.frames / info.samplerate))
                continue
            out = args.out_dir / "wav" / f"{pre}{utt}.wav"
            wav, sr = soundfile.read(path, dtype="float32")
            if not out.exists():
                soundfile.write(out, perturb(wav, sr, f), sr, subtype="PCM_16")
            rows.append((pre + utt, pre + spk[utt], str(out.resolve()), text[utt],
                         soundfile.info(out).frames / sr))
        print(f"factor {f:g}: {len(wavs)} utterances", file=sys.stderr)
    rows.sort()
    spk2utt = defaultdict(list)
    with open(args.out_dir / "wav.scp", "w") as w, open(args.out_dir / "text", "w") as t, \
            open(args.out_dir / "utt2spk", "w") as u, open(args.out_dir / "utt2dur", "w") as d:
        for utt, s, path, words, dur in rows:
            w.write(f"{utt} {path}\n")
            t.write(f"{utt} {words}\n")
            u.write(f"{utt} {s}\n")
            d.write(f"{utt} {dur:.3f}\n")
            spk2utt[s].append(utt)
    with open(args.out_dir / "spk2utt", "w") as f:
        for s in sorted(spk2utt):
            f.write(f"{s} {' '.join(spk2utt[s])}\n")


if __name__ == "__main__":
    main()
