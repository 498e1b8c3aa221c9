#!/usr/bin/env bash
# AN4 data preparation, as ESPnet's egs2/an4/asr1/local/data.sh does it:
#   stage 1: unpack ${AN4} (db.sh: an4_sphere.tar.gz, a directory holding it, or an unpacked
#            an4/ tree) into downloads/an4
#   stage 2: kaldi dirs from the CMU transcription files: data/train (948 - 100 utterances),
#            data/dev (the first 100 train utterances in sorted-id order, ESPnet's train_dev),
#            data/test (130); ids <speaker>-<prefix>-<gender-session>, upper-case words.
#            The audio stays SPHERE (read by soundfile); asr.sh/lst.sh stage 1 converts it.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

stage=1
stop_stage=2
datadir=downloads
ndev_utt=100
max_utts=0      # >0: keep only the first N utterances of each set (toy runs and tests)
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Error: no positional arguments expected: $*"; exit 2; }
# db.sh names the corpus; a copy of the recipe without it (e.g. a private pretraining copy)
# falls back to the shared data (LST_SHARED, set by path.sh)
# shellcheck disable=SC1091
if [ -f ./db.sh ]; then . ./db.sh; else AN4=${AN4:-${LST_SHARED:?set AN4 or LST_SHARED}/data/an4}; fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  if [ -f "${datadir}/an4/etc/an4_train.transcription" ]; then
    log "stage 1: ${datadir}/an4 already unpacked"
  else
    mkdir -p "${datadir}"
    src=${AN4}
    [ -d "${src}" ] && [ -f "${src}/an4_sphere.tar.gz" ] && src=${src}/an4_sphere.tar.gz
    if [ -f "${src}" ]; then
      log "stage 1: unpacking ${src} -> ${datadir}/"
      tar xzf "${src}" -C "${datadir}"
    elif [ -f "${src}/etc/an4_train.transcription" ]; then
      log "stage 1: linking the unpacked corpus ${src} -> ${datadir}/an4"
      ln -sfn "$(cd "${src}" && pwd)" "${datadir}/an4"
    else
      log "Error: AN4=${AN4} is neither an4_sphere.tar.gz, a directory holding it, nor an unpacked an4/ (see db.sh)"
      exit 1
    fi
  fi
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "stage 2: kaldi dirs data/{train,dev,test} (dev: first ${ndev_utt} train utterances)"
  python3 local/data_prep.py "${datadir}/an4" data --ndev_utt "${ndev_utt}" --max_utts "${max_utts}"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
