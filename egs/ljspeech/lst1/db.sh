#!/usr/bin/env bash
# Where the corpus of this recipe lives (ESPnet's db.sh). Default: the read-only shared subset
# next to the repository (../shared/data/ljspeech: the first 385 clips + the full metadata.csv).
# For your own download of LJ Speech 1.1:   LJSPEECH=/path/to/LJSpeech-1.1 ./run.sh
_db_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
LJSPEECH=${LJSPEECH:-${_db_dir}/../../../../shared/data/ljspeech/LJSpeech-1.1}
export LJSPEECH
