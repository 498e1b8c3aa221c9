r"""Vocode a units file with a trained unit vocoder (e.g. the reference units of a test set).

    python -m lst.bin.vocode_units --vocoder exp/vocoder/vocoder.pth --units dump/units/test/units \
        --output_dir exp/tts_reference/decode_test

Writes ``wav/<utt>.wav`` and ``wav.scp``. Unit ids outside the vocoder's range stop the run
with an error naming the utterance.
"""
import argparse
import logging
import sys
from pathlib import Path

import soundfile

from lst.data.kaldi_dir import read_kaldi_map
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
    with open(out / "wav.scp", "w") as wf:
        for utt, value in read_kaldi_map(args.units, allow_empty_value=True).items():
            try:
                wav = voc.synthesize(value.split(), utt)
            except VocoderInputError as e:
                logging.error(f"{args.units}: {e}")
                return 1
            path = (out / "wav" / f"{utt}.wav").resolve()
            soundfile.write(str(path), wav, voc.cfg.sample_rate, subtype="PCM_16")
            wf.write(f"{utt} {path}\n")
    logging.info(f"{args.units} -> {out / 'wav.scp'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
