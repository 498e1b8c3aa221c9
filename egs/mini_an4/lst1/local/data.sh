#!/usr/bin/env bash
# mini_an4 data preparation: unpack ESPnet's mini_an4 downloads.tar.gz into downloads/
# (from ../shared, the ESPnet way of a recipe-local copy) and write kaldi-style dirs:
#   data/train (4 utterances), data/valid (1, held out of AN4 train), data/test (2, AN4 test)
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

archive=${MINI_AN4_ARCHIVE:-${LST_SHARED}/data/mini_an4/downloads.tar.gz}
valid_utts="mwhw-cen8-mwhw-b"

if [ ! -d downloads/an4 ]; then
  [ -f "${archive}" ] || { log "Error: ${archive} not found (set MINI_AN4_ARCHIVE or LST_SHARED)"; exit 1; }
  log "Unpacking ${archive} -> downloads/"
  tar xzf "${archive}"
fi
python3 local/an4_to_kaldi.py downloads/an4 data --valid_utts ${valid_utts}
