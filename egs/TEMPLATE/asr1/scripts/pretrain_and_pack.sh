#!/usr/bin/env bash
# Pretrain the speech-text LMs of a corpus in a private copy of its lst1 recipe and pack them.
#
#   scripts/pretrain_and_pack.sh <lst1_recipe_dir> <work_dir> <packed_dir> "<lst configs>" "<lst1 extra args>"
#
# The copy keeps the downstream recipe independent of whatever runs in egs/<corpus>/lst1
# (another run there may delete or retrain exp/ at any moment). For each config, e.g.
# "conf/train_lst_debug.yaml conf/train_token_lm_debug.yaml", lst1 trains the model (stages
# 1-9, or 9 alone once the data stages are done) and packs it (stage 11); the package is copied
# to <packed_dir>/<model>.zip, where <model> is the config's `model:` key (lst or token_lm).
# Paths are the recipe's own (./run.sh --print_paths true), never guessed. <lst1 extra args> is
# shell-quoted (eval), e.g. "--lst_args '--max_epoch 5'".
set -euo pipefail
src=$1; work=$2; packed=$3; configs=$4; extra=${5:-}
src=$(cd "${src}" && pwd)
if [ ! -d "${work}" ]; then
  mkdir -p "${work}"
  for f in run.sh conf local; do cp -rL "${src}/${f}" "${work}/"; done
  [ -f "${src}/cmd.sh" ] && cp "${src}/cmd.sh" "${work}/"
  for f in lst.sh path.sh utils; do ln -s "$(readlink -f "${src}/${f}")" "${work}/${f}"; done
fi
mkdir -p "${packed}"
packed=$(cd "${packed}" && pwd)
work=$(cd "${work}" && pwd)
cd "${work}"
. utils/lib.sh
for cfg in ${configs}; do
  model=$(awk '/^model:/{print $2}' "${cfg}")
  if [ -f "${packed}/${model}.zip" ]; then log "${packed}/${model}.zip exists; skipped"; continue; fi
  stats=$(eval "recipe_path . stats_dir --lst_config ${cfg} ${extra}")
  pack=$(eval "recipe_path . packed --lst_config ${cfg} ${extra}")
  stages="--stage 1 --stop_stage 11"
  [ -f "${stats}/train/seq_shape" ] && stages="--stage 9 --stop_stage 11"
  log "pretraining ${cfg} in ${work} (${stages}) -> ${pack}"
  # shellcheck disable=SC2086
  eval ./run.sh ${stages} --skip_stages 10 --lst_config "${cfg}" "${extra}"
  cp "${pack}" "${packed}/${model}.zip"
  log "${packed}/${model}.zip <- ${work}/${pack}"
done
