#!/usr/bin/env bash
# Where the corpora of this recipe live (ESPnet's db.sh). Default: the read-only shared copy
# next to the repository (../shared/data, see its README.md).
_db_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
AN4=${AN4:-${_db_dir}/../../../../shared/data/an4/an4_sphere.tar.gz}
LJSPEECH=${LJSPEECH:-${_db_dir}/../../../../shared/data/ljspeech/LJSpeech-1.1}
export AN4 LJSPEECH
