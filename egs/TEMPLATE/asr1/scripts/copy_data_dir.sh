#!/usr/bin/env bash
# Copy a kaldi data dir from another recipe (asr.sh / tts.sh --src_data_dir):
#
#   scripts/copy_data_dir.sh <src recipe>/data/<set> data/<set>
#
# text, utt2spk and spk2utt are copied as they are; wav.scp paths are relative to the source
# recipe (the parent of its data dir), so relative ones are made absolute.
set -euo pipefail
src=$1; dst=$2
mkdir -p "${dst}"
for f in text utt2spk spk2utt; do
  if [ -f "${src}/${f}" ]; then cp "${src}/${f}" "${dst}/${f}"; fi
done
src_root=$(cd "${src}/../.." && pwd)
awk -v root="${src_root}" '{ p = $2; if (p !~ /^\//) p = root "/" p; print $1, p }' "${src}/wav.scp" > "${dst}/wav.scp"
