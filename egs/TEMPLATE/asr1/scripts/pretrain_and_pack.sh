#!/usr/bin/env bash
# Pretrain the speech-text LMs of a corpus in a private copy of its lst1 recipe and pack them.
#
#   scripts/pretrain_and_pack.sh <lst1_recipe_dir> <work_dir> <packed_dir> "<lst configs>" "<lst1 extra args>"
#
# The copy keeps the downstream recipe independent of whatever runs in egs/<corpus>/lst1
# (another run there may delete or retrain exp/ at any moment). For each config, e.g.
# "conf/train_lst_debug.yaml conf/train_token_lm_debug.yaml", the model is trained by lst1's
# stage 9 and packed (lst.bin.pack_model) into <packed_dir>/<model>.zip, where <model> is
# the config's `model:` key (lst or token_lm). <lst1 extra args> is shell-quoted (eval), e.g.
# "--lst_args '--max_epoch 5'".
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (pretrain_and_pack.sh) $*"; }
src=$1; work=$2; packed=$3; configs=$4; extra=${5:-}
src=$(cd "${src}" && pwd)
if [ ! -d "${work}" ]; then
  mkdir -p "${work}"
  for f in run.sh conf local; do cp -rL "${src}/${f}" "${work}/"; done
  for f in lst.sh path.sh utils; do ln -s "$(readlink -f "${src}/${f}")" "${work}/${f}"; done
fi
mkdir -p "${packed}"
packed=$(cd "${packed}" && pwd)
first=true
for cfg in ${configs}; do
  tag=$(basename "${cfg}" .yaml)
  model=$(awk '/^model:/{print $2}' "${work}/${cfg}")
  if [ -f "${packed}/${model}.zip" ]; then log "${packed}/${model}.zip exists; skipped"; continue; fi
  if ${first}; then stages="--stage 1 --stop_stage 9"; first=false; else stages="--stage 9 --stop_stage 9"; fi
  [ -f "${work}/exp/lst_stats/train/seq_shape" ] && stages="--stage 9 --stop_stage 9"
  log "pretraining ${cfg} in ${work}"
  # shellcheck disable=SC2086
  (cd "${work}" && eval ./run.sh ${stages} --lst_config "${cfg}" "${extra}")
  km_dir=$(cd "${work}" && ls -d exp/kmeans_* | head -1)  # relative to the work dir, where pack_model runs
  ( cd "${work}" && . ./path.sh && python -m lst.bin.pack_model --config "exp/lst_${tag}/config.yaml" \
      --model_file "exp/lst_${tag}/valid.loss.best.pth" --bpe_model data/bpe/bpe.model \
      --km_dir "${km_dir}" --unit_info dump/units/train/unit_info.json --out "${packed}/${model}.zip" )
done
