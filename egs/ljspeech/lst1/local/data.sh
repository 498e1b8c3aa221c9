#!/usr/bin/env bash
# LJ Speech data preparation.
#   stage 1: link ${LJSPEECH} (db.sh: an unpacked LJSpeech-1.1/) as downloads/LJSpeech-1.1
#   stage 2: kaldi dirs from metadata.csv (normalized-text column, upper-cased, punctuation
#            removed) for the clips present in wavs/ (.wav or .flac), in id order:
#            data/test = the last ${ntest}, data/valid = the ${nvalid} before them, data/train =
#            the rest (the 385-clip shared subset: 325 / 20 / 40; test = LJ002-0161..0200).
#            One speaker (LJ). The audio (22.05 kHz) is resampled to 16 kHz by the callers.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

stage=1
stop_stage=2
datadir=downloads
nvalid=20
ntest=40
max_utts=0      # >0: use only the first N clips (toy runs and tests); the split then scales
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Error: no positional arguments expected: $*"; exit 2; }
# db.sh names the corpus; a copy of the recipe without it (e.g. a private pretraining copy)
# falls back to the shared data (LST_SHARED, set by path.sh)
# shellcheck disable=SC1091
if [ -f ./db.sh ]; then . ./db.sh; else LJSPEECH=${LJSPEECH:-${LST_SHARED:?set LJSPEECH or LST_SHARED}/data/ljspeech/LJSpeech-1.1}; fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  if [ ! -f "${LJSPEECH}/metadata.csv" ]; then
    log "Error: LJSPEECH=${LJSPEECH} has no metadata.csv (see db.sh)"
    exit 1
  fi
  mkdir -p "${datadir}"
  ln -sfn "$(cd "${LJSPEECH}" && pwd)" "${datadir}/LJSpeech-1.1"
  log "stage 1: ${datadir}/LJSpeech-1.1 -> ${LJSPEECH}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "stage 2: kaldi dirs data/{train,valid,test}"
  python3 local/data_prep.py "${datadir}/LJSpeech-1.1" data --nvalid "${nvalid}" --ntest "${ntest}" \
    --max_utts "${max_utts}"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
