r"""Vocode a units file with a trained unit vocoder (e.g. the reference units of a test set).

    python -m lst.bin.vocode_units --vocoder exp/vocoder/vocoder.pth --units dump/units/test/units \
        --output_dir exp/tts_reference/decode_test

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
from lst.vocoder.unit_mel import UnitVocoder, VocoderInputError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocoder", required=True)
    p.add_argument("--units", required=True)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--griffin_lim_iters", type=int, default=32)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (vocode_units) %(levelname)s: %(message)s")
    voc = UnitVocoder.load(args.vocoder, args.griffin_lim_iters)
    out = Path(args.output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    try:
        units = read_kaldi_map(args.units, allow_empty_value=True)
        check_unique_file_names(units, args.units)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    (out / "wav.scp").unlink(missing_ok=True)  # the old list no longer describes wav/ once it is rewritten
    lines = []
    for utt, value in units.items():
        try:
            wav = voc.synthesize(value.split(), utt)
        except VocoderInputError as e:
            logging.error(f"{args.units}: {e}")
            return 1
        path = (out / "wav" / f"{utt_file_name(utt)}.wav").resolve()
        soundfile.write(str(path), wav, voc.cfg.sample_rate, subtype="PCM_16")
        lines.append(f"{utt} {path}\n")
    with atomic_open(out / "wav.scp") as wf:  # renamed into place when complete
        wf.writelines(lines)
    logging.info(f"{args.units} -> {out / 'wav.scp'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
