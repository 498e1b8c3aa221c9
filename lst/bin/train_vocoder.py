r"""Train the unit vocoder (units -> log-mel net + Griffin-Lim, see lst/vocoder/unit_mel.py).

    python -m lst.bin.train_vocoder --wav_scp dump/raw/train/wav.scp --units dump/units/train/units \
        --n_units 32 --unit_rate_hz 50 --out_dir exp/vocoder [--steps 400] [--mel_postfilter knn --knn_k 4]

Writes ``vocoder.pth`` and ``train_info.json``. ``--model packed.zip`` takes n_units and the
unit rate from a packed model instead.

Deduplicated units (``dump_units --dedup true`` / a package whose units are deduplicated): the
``durations`` file written beside them (or ``--durations``) expands them to frames for training,
and a duration model fitted on it is kept in ``vocoder.pth``, so that synthesis can take
deduplicated units (a TTS model's output) and put durations back (`lst.vocoder.duration`).
"""
import argparse
import json
import logging
import os
import sys
from pathlib import Path

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.vocoder import MEL_POSTFILTERS, VocoderInputError, train_vocoder
from lst.vocoder.duration import read_durations


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--units", required=True, help="kaldi-style 'utt u u u' (one per frame, or deduplicated with "
                                                  "--durations)")
    p.add_argument("--durations", default=None,
                   help="'utt d d d': frames per deduplicated unit; default: the 'durations' file beside --units "
                        "when its unit_info.json (or --model) says the units are deduplicated")
    p.add_argument("--duration_min_count", type=int, default=3,
                   help="(deduplicated units) the duration model uses a (left, unit, right) context seen this often")
    p.add_argument("--model", default=None, help="packed model: n_units / unit rate from it")
    p.add_argument("--n_units", type=int, default=None)
    p.add_argument("--unit_rate_hz", type=float, default=None)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--n_layers", type=int, default=4)
    p.add_argument("--max_minutes", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mel_postfilter", choices=MEL_POSTFILTERS, default="none",
                   help="the vocoder's default mel post-filter (lst/vocoder/unit_mel.py): knn / knn_unit replace each "
                        "predicted frame by the mean of its --knn_k nearest training frames (all of them / those of "
                        "the same unit; the frames are stored in vocoder.pth), gv restores the training data's "
                        "per-utterance variance")
    p.add_argument("--knn_k", type=int, default=4, help="neighbours averaged by the knn post-filters")
    p.add_argument("--frames_per_unit", type=int, default=None,
                   help="mel frames per unit (default: a 10 ms mel hop, 4 per 25 Hz unit, 2 per 50 Hz unit; 1: the "
                        "mel hop is the unit hop, as before)")
    p.add_argument("--pitch_bins", type=int, default=0,
                   help="> 0: condition the mel net on pitch quantised to this many log-F0 bins (FastSpeech 2's "
                        "pitch adaptor: trained on pYIN's F0 of each clip, the net's own pitch predictor at synthesis); "
                        "0: units only, as before")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (train_vocoder) %(levelname)s: %(message)s")
    n_units, rate = args.n_units, args.unit_rate_hz
    if args.model:
        from lst.pack import unpack
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            meta = unpack(args.model, tmp)
        n_units, rate = n_units or meta["n_units"], rate or meta["unit_rate_hz"]
        dedup = bool(meta.get("dedup"))
    else:
        dedup = units_are_deduplicated(args.units)
    durations = None
    if dedup or args.durations:
        dur_file = args.durations or os.path.join(os.path.dirname(args.units), "durations")
        try:
            durations = read_durations(dur_file)
        except (DataDirError, ValueError) as e:
            logging.error(f"{args.units}: deduplicated units need their durations: {e}")
            return 1
        logging.info(f"deduplicated units: durations from {dur_file}; the vocoder gets a duration model")
    if not n_units or not rate:
        logging.error("give --n_units and --unit_rate_hz, or --model packed.zip")
        return 1
    wavs = read_kaldi_map(args.wav_scp)
    units = read_kaldi_map(args.units, allow_empty_value=True)

    def pairs():
        for utt in sorted(set(wavs) & set(units)):
            try:
                wav = load_audio(wavs[utt])
            except AudioError as e:
                logging.warning(f"{utt}: {e}; skipped")
                continue
            yield utt, wav, units[utt].split()

    missing = sorted(set(units) ^ set(wavs))
    if missing:
        logging.warning(f"{len(missing)} utterances only in one of wav.scp / units (e.g. {missing[:3]}); skipped")
    try:
        vocoder, info = train_vocoder(pairs(), n_units, rate, steps=args.steps, lr=args.lr, d=args.d,
                                      n_layers=args.n_layers, seed=args.seed, max_minutes=args.max_minutes,
                                      frames_per_unit=args.frames_per_unit, mel_postfilter=args.mel_postfilter,
                                      knn_k=args.knn_k, pitch_bins=args.pitch_bins, durations=durations,
                                      duration_min_count=args.duration_min_count)
    except VocoderInputError as e:
        logging.error(f"{args.units}: {e}")
        return 1
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocoder.save(str(out / "vocoder.pth"))
    (out / "train_info.json").write_text(json.dumps(info, indent=2))
    logging.info(f"{out / 'vocoder.pth'}: {info}")
    return 0


def units_are_deduplicated(units_path: str) -> bool:
    """What the unit_info.json beside a units file (dump_units, prepare_downstream) says."""
    info = os.path.join(os.path.dirname(units_path), "unit_info.json")
    try:
        with open(info, encoding="utf-8") as f:
            return str(json.load(f).get("dedup", False)).lower() == "true"
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
