#!/usr/bin/env bash
# Speech for HuBERT pre-training on this machine, plus a phone-labelled evaluation set:
#   stage 1: unpack AN4 (db.sh: ${AN4}) into downloads/an4
#   stage 2: data/train, data/valid: AN4 train (918 + 30 valid) + LJ Speech subset (370 + 15)
#            = 1.36 h of training speech; AN4 test stays out (it is the downstream test set)
#   stage 3: data/synth_eval: --n_synth sentences of LJ Speech metadata *not* in the audio
#            subset, spoken by espeak-ng in a held-out voice, with exact phone timings
#            (data/synth_eval/phone_ctm) from the synthesizer's phoneme events
#   stage 4: data/an4_test (--an4_eval true): AN4 test (real speech, never trained on: not in
#            train/valid, so not in any k-means or HuBERT data) with phone_ctm (and word_ctm)
#            from a pocketsphinx forced alignment (lst.bin.ps_align: en-us acoustic model, CMU
#            dictionary, ARPAbet phones without stress + sil, 10 ms resolution)
# Phone labels of an eval set: espeak-ng events for synthetic speech, pocketsphinx for AN4.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

stage=1
stop_stage=4
datadir=downloads
max_utts=0         # >0: first N utterances of each corpus (tests)
n_synth=300
synth_voice=en-029+f4   # the held-out voice of the synthetic corpora (never a train voice)
synth_rate=170
an4_eval=true      # stage 4: data/an4_test with forced-alignment phone labels
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Error: no positional arguments expected: $*"; exit 2; }
# shellcheck disable=SC1091
. ./db.sh

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  if [ -f "${datadir}/an4/etc/an4_train.transcription" ]; then
    log "stage 1: ${datadir}/an4 already unpacked"
  else
    [ -f "${AN4}" ] || { log "Error: AN4=${AN4} not found (see db.sh)"; exit 1; }
    mkdir -p "${datadir}"
    log "stage 1: unpacking ${AN4} -> ${datadir}/"
    tar xzf "${AN4}" -C "${datadir}"
  fi
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "stage 2: data/train, data/valid from AN4 train + ${LJSPEECH}"
  python3 local/data_prep.py "${datadir}/an4" "${LJSPEECH}" data --max_utts "${max_utts}"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ] && [ "${n_synth}" -gt 0 ]; then
  log "stage 3: data/synth_eval: ${n_synth} espeak-ng sentences, voice ${synth_voice}, ${synth_rate} wpm"
  python3 local/synth_eval.py --metadata "${LJSPEECH}/metadata.csv" --audio_dir "${LJSPEECH}/wavs" \
    --out_dir data/synth_eval --n "${n_synth}" --voice "${synth_voice}" --rate "${synth_rate}"
fi
if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ] && [ "${an4_eval}" = true ]; then
  log "stage 4: data/an4_test: AN4 test + pocketsphinx phone alignment -> data/an4_test/phone_ctm"
  python3 local/data_prep.py "${datadir}/an4" "" data --max_utts "${max_utts}" --an4_test data/an4_test
  python3 -m lst.bin.ps_align --data_dir data/an4_test --out_word_ctm data/an4_test/word_ctm \
    --out_phone_ctm data/an4_test/phone_ctm
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
