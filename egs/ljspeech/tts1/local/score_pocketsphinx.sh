#!/usr/bin/env bash
# Independent-recognizer scoring of a tts1 run (pocketsphinx, lst.bin.recognize): for each test set
#   original recordings             dump/raw/<set>/wav.scp              -> exp/tts_original/decode_<set>/pocketsphinx/
#   reference units + vocoder        exp/tts_reference/decode_<set>/     -> .../pocketsphinx/ (resynthesized here if missing)
#   each TTS system <m>              exp/tts_<m>/decode_<set>/           -> .../pocketsphinx/
# then exp/RESULTS_pocketsphinx.md + exp/RESULTS.json (local/make_results.py).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

python=python3
expdir=exp
models="token_lm lst"
test_sets="test"
units_model=""          # whose reference units are resynthesized (default: the first of --models, else lst)
griffin_lim_iters=32
recognize_args=""
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Error: unexpected arguments: $*"; exit 2; }
[ -n "${units_model}" ] || units_model=$(echo ${models:-lst} | awk "{print \$1}")

for dset in ${test_sets}; do
  ref=dump/raw/${dset}/text
  [ -f "${ref}" ] || { log "Error: ${ref} not found; it is made by tts.sh stage 1"; exit 1; }
  refd=${expdir}/tts_reference/decode_${dset}
  if [ ! -f "${refd}/wav.scp" ]; then
    [ -f "${expdir}/vocoder/vocoder.pth" ] || { log "Error: ${expdir}/vocoder/vocoder.pth not found; it is made by tts.sh stage 5"; exit 1; }
    log "resynthesize the reference units of ${dset} (${units_model}'s k-means)"
    ${python} -m lst.bin.vocode_units --vocoder "${expdir}/vocoder/vocoder.pth" \
      --units "dump/units/pkg_${units_model}/${dset}/units" --output_dir "${refd}" --griffin_lim_iters "${griffin_lim_iters}"
  fi
  mkdir -p "${expdir}/tts_original/decode_${dset}"
  cp "dump/raw/${dset}/wav.scp" "${expdir}/tts_original/decode_${dset}/wav.scp"
  for sys in original reference ${models}; do
    d=${expdir}/tts_${sys}/decode_${dset}
    [ -f "${d}/wav.scp" ] || { log "Error: ${d}/wav.scp not found; it is made by tts.sh stage 6"; exit 1; }
    log "pocketsphinx: ${d}/wav.scp"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.recognize --wav_scp "${d}/wav.scp" --ref_text "${ref}" --output_dir "${d}/pocketsphinx" ${recognize_args}
  done
done
${python} local/make_results.py --expdir "${expdir}" --models "${models}" --sets "${test_sets}"
