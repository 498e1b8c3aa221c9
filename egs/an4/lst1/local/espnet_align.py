#!/usr/bin/env python3
"""Word timings from ESPnet's CTC segmentation (espnet2.bin.asr_align) with an ESPnet ASR model,
e.g. ../asr1's AN4 baseline: each word is one "utterance" of the segmentation, so the word
spans tile the audio between the first and last word (silences ride inside the words).

    local/espnet_align.py --asr_exp ../asr1/exp/asr_espnet_transformer_cpu_bpe30_sp \
        --data_dir dump/raw/test --out exp/align_eval/an4_test_espnet.word_ctm

Run from the recipe that trained the model is not needed: relative paths in its config.yaml
(BPE model) are resolved against --asr_root (default: the exp dir's grandparent).
"""
import argparse
import logging
import os
import sys
import time
from pathlib import Path

from lst.audio import AudioError, load_audio
from lst.compat import ASR_INFERENCE_PLACEHOLDERS, espnet_placeholders
from lst.data.kaldi_dir import read_kaldi_map
from lst.data.timings import WordTiming, write_ctm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--asr_exp", required=True, help="ESPnet ASR exp dir (config.yaml + model file)")
    p.add_argument("--model_file", default="valid.acc.ave.pth")
    p.add_argument("--asr_root", default=None, help="directory the config's relative paths start from")
    p.add_argument("--data_dir", required=True, help="kaldi dir with wav.scp and text")
    p.add_argument("--out", required=True, help="word_ctm to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (espnet_align) %(levelname)s: %(message)s")
    exp = Path(args.asr_exp).resolve()
    data = Path(args.data_dir).resolve()
    out_path = Path(args.out).resolve()
    wavs, texts = read_kaldi_map(data / "wav.scp"), read_kaldi_map(data / "text")
    with espnet_placeholders(ASR_INFERENCE_PLACEHOLDERS):
        from espnet2.bin.asr_align import CTCSegmentation
    os.chdir(args.asr_root or exp.parent.parent)
    aligner = CTCSegmentation(asr_train_config=str(exp / "config.yaml"), asr_model_file=str(exp / args.model_file),
                              fs=16000, kaldi_style_text=False, time_stamps="auto")
    out, skipped, t0 = {}, [], time.time()
    for utt in sorted(texts):
        words = texts[utt].split()
        try:
            seg = aligner(load_audio(wavs[utt], 16000), words, name=utt)
        except (AudioError, KeyError, ValueError, AssertionError) as e:  # ctc-segmentation asserts on too-short audio
            skipped.append(utt)
            logging.warning("utterance %s: %s; skipped", utt, e)
            continue
        out[utt] = [WordTiming(w, float(s), float(e)) for w, (s, e, _) in zip(words, seg.segments)]
    write_ctm(out_path, out)
    print(f"espnet_align: {out_path}: {len(texts)} in, {len(out)} written, {len(skipped)} skipped; "
          f"{time.time() - t0:.1f} s")
    return 0 if out else 1


if __name__ == "__main__":
    sys.exit(main())
