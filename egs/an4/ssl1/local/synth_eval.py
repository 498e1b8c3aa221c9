#!/usr/bin/env python3
"""Phone-labelled evaluation speech: LJ Speech sentences spoken by espeak-ng in one voice.

    python3 local/synth_eval.py --metadata LJSpeech-1.1/metadata.csv --audio_dir LJSpeech-1.1/wavs \
        --out_dir data/synth_eval --n 300 --voice en-029+f4 --rate 170

Takes the first ``--n`` metadata rows (normalized text) whose clip is *not* in ``--audio_dir``
(so no sentence of the training audio), of 4..30 words. Writes 16 kHz wavs under
``<out_dir>/wav/``, Kaldi ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``word_ctm`` and
``phone_ctm`` (same format, ``utt phone start end``: exact spans from the synthesizer's
phoneme events, lst.tts.espeak.phone_spans).
"""
import argparse
from pathlib import Path

import soundfile

from lst.data.timings import write_ctm
from lst.tts.espeak import EspeakSynthesizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metadata", type=Path, required=True)
    p.add_argument("--audio_dir", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--voice", default="en-029+f4")
    p.add_argument("--rate", type=int, default=170)
    args = p.parse_args()
    have_audio = {f.stem for f in args.audio_dir.iterdir()}
    rows = []
    for lineno, line in enumerate(args.metadata.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("|")
        if len(parts) != 3:
            raise SystemExit(f"{args.metadata}:{lineno}: expected id|raw|normalized")
        if parts[0] not in have_audio and 4 <= len(parts[2].split()) <= 30:
            rows.append((parts[0], parts[2]))
        if len(rows) == args.n:
            break
    syn = EspeakSynthesizer(sample_rate=16000)
    syn.set_voice(args.voice, args.rate)
    spk = f"espeak-{args.voice.replace('+', 'x')}-r{args.rate}"
    wav_dir = args.out_dir / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    words, phones, seconds = {}, {}, 0.0
    with open(args.out_dir / "wav.scp", "w") as scp, open(args.out_dir / "text", "w") as txt, \
            open(args.out_dir / "utt2spk", "w") as u2s:
        for clip, text in rows:
            utt = f"{spk}-{clip}"
            res = syn.synthesize(text, utt=utt)
            path = (wav_dir / f"{clip}.wav").resolve()
            soundfile.write(path, res.audio, res.sample_rate, subtype="PCM_16")
            scp.write(f"{utt} {path}\n")
            txt.write(f"{utt} {' '.join(w.word for w in res.words)}\n")
            u2s.write(f"{utt} {spk}\n")
            words[utt], phones[utt] = res.words, res.phones
            seconds += res.duration
    with open(args.out_dir / "spk2utt", "w") as f:
        f.write(f"{spk} {' '.join(sorted(words))}\n")
    write_ctm(args.out_dir / "word_ctm", words)
    write_ctm(args.out_dir / "phone_ctm", phones)
    n_phones = len({ph.word for utt in phones.values() for ph in utt})
    print(f"synth_eval: {len(rows)} utterances, {seconds / 60:.1f} min, {n_phones} phone labels, "
          f"voice {args.voice} at {args.rate} wpm")


if __name__ == "__main__":
    main()
