r"""Vocode a units file with a trained unit vocoder (e.g. the reference units of a test set).

    python -m lst.bin.vocode_units --vocoder exp/vocoder/vocoder.pth --units dump/units/test/units \
        --output_dir exp/tts_reference/decode_test [--mel_postfilter knn --knn_k 4]

    python -m lst.bin.vocode_units --mel_of_wav_scp dump/raw/test/wav.scp --unit_rate_hz 25 \
        --frames_per_unit 4 --output_dir exp/mel_ceiling_test

The second form resynthesizes recordings from their own (true) log-mel by Griffin-Lim at the
mel hop a vocoder of that unit rate and ``frames_per_unit`` uses: the ceiling of any vocoder of
this design (a perfect unit -> mel net), to score next to the reference-unit resynthesis.
A vocoder trained on deduplicated units (it holds a duration model) expands them to frames:
``--durations auto`` (default) with the ``durations`` file beside ``--units`` when there is one
(the reference durations: the resynthesis floor), else with the duration model;
``--durations predict`` always with the model; ``--durations FILE`` with that file.
Writes ``wav/<name>.wav`` and ``wav.scp``. ``<name>`` is the utterance id percent-escaped
(``lst.data.kaldi_dir.utt_file_name``, as tts_inference and format_wav name their files), so
ids with ``/`` work and two ids never share a file. Unit ids outside the vocoder's range stop
the run with an error naming the utterance (and leave no wav.scp behind).
"""
import argparse
import logging
import sys
from pathlib import Path

import soundfile

from lst.data.kaldi_dir import DataDirError, check_unique_file_names, read_kaldi_map, utt_file_name
from lst.stage_io import atomic_open
from lst.audio import AudioError, load_audio
from lst.vocoder.duration import read_durations
from lst.vocoder.unit_mel import (MEL_POSTFILTERS, MelConfig, UnitVocoder, VocoderInputError,
                                  default_frames_per_unit, griffin_lim, log_mel)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocoder", default=None, help="trained unit vocoder (with --units)")
    p.add_argument("--units", default=None)
    p.add_argument("--mel_of_wav_scp", default=None, help="instead: Griffin-Lim of these recordings' own log-mel")
    p.add_argument("--unit_rate_hz", type=float, default=50.0, help="(--mel_of_wav_scp) unit rate of the mel hop")
    p.add_argument("--frames_per_unit", type=int, default=None, help="(--mel_of_wav_scp) default: a 10 ms hop")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--griffin_lim_iters", type=int, default=32)
    p.add_argument("--mel_postfilter", choices=MEL_POSTFILTERS, default=None,
                   help="(--vocoder) mel post-filter; default: the vocoder's own (see lst.bin.train_vocoder)")
    p.add_argument("--knn_k", type=int, default=None, help="(--vocoder) neighbours of the knn post-filters")
    p.add_argument("--durations", default="auto",
                   help="(a vocoder of deduplicated units) auto: the 'durations' file beside --units if any, else "
                        "predicted; predict: the vocoder's duration model; or a 'utt d d d' file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (vocode_units) %(levelname)s: %(message)s")
    if bool(args.mel_of_wav_scp) == bool(args.vocoder and args.units):
        p.error("give either --vocoder and --units, or --mel_of_wav_scp")
    src = args.mel_of_wav_scp or args.units
    try:
        items = read_kaldi_map(src, allow_empty_value=args.mel_of_wav_scp is None)
        check_unique_file_names(items, src)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    if args.mel_of_wav_scp:
        cfg = MelConfig(unit_rate_hz=args.unit_rate_hz,
                        frames_per_unit=args.frames_per_unit or default_frames_per_unit(args.unit_rate_hz))
        logging.info(f"Griffin-Lim of the true log-mel, hop {cfg.hop} samples ({args.griffin_lim_iters} iterations)")

        def synthesize(utt, value):
            try:
                return griffin_lim(log_mel(load_audio(value), cfg), cfg, args.griffin_lim_iters)
            except AudioError as e:
                raise VocoderInputError(f"{utt}: {e}") from None
        sample_rate = cfg.sample_rate
    else:
        try:
            voc = UnitVocoder.load(args.vocoder, args.griffin_lim_iters, args.mel_postfilter, args.knn_k)
        except ValueError as e:  # a post-filter the vocoder has no data for
            logging.error(f"{args.vocoder}: {e}")
            return 1
        logging.info(f"{args.vocoder}: mel post-filter {voc.mel_postfilter}"
                     + (f" (k={voc.knn_k})" if voc.mel_postfilter.startswith("knn") else ""))

        durations = None
        dur_file = args.durations
        if dur_file == "auto":
            beside = Path(args.units).parent / "durations"
            dur_file = str(beside) if voc.deduplicated and beside.exists() else "predict"
        if dur_file != "predict":
            if not voc.deduplicated:
                logging.error(f"--durations {dur_file}: {args.vocoder} takes one unit per frame, not deduplicated units")
                return 1
            try:
                durations = read_durations(dur_file)
            except (DataDirError, ValueError) as e:
                logging.error(str(e))
                return 1
        if voc.deduplicated:
            logging.info(f"deduplicated units; durations: {dur_file if durations else 'the vocoder duration model'}")

        def synthesize(utt, value):
            if durations is not None and utt not in durations:
                raise VocoderInputError(f"{utt}: not in the durations file {dur_file}")
            return voc.synthesize(value.split(), utt, durations[utt] if durations is not None else None)
        sample_rate = voc.cfg.sample_rate
    out = Path(args.output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    (out / "wav.scp").unlink(missing_ok=True)  # the old list no longer describes wav/ once it is rewritten
    lines = []
    for utt, value in items.items():
        try:
            wav = synthesize(utt, value)
        except VocoderInputError as e:
            logging.error(f"{src}: {e}")
            return 1
        path = (out / "wav" / f"{utt_file_name(utt)}.wav").resolve()
        soundfile.write(str(path), wav, sample_rate, subtype="PCM_16")
        lines.append(f"{utt} {path}\n")
    with atomic_open(out / "wav.scp") as wf:  # renamed into place when complete
        wf.writelines(lines)
    logging.info(f"{src} -> {out / 'wav.scp'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
