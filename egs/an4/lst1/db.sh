#!/usr/bin/env bash
# Where the corpora of this recipe live (ESPnet's db.sh). Default: the read-only shared copy
# next to the repository (../shared/data, see its README.md). To use your own download of
# CMU's an4_sphere.tar.gz:   AN4=/path/to/an4_sphere.tar.gz ./run.sh
# (a directory holding an4_sphere.tar.gz, or an already unpacked an4/ tree, works too).
_db_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
AN4=${AN4:-${_db_dir}/../../../../shared/data/an4}
export AN4
