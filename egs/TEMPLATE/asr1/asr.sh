#!/usr/bin/env bash
# Downstream ASR from a pretrained speech-text LM (token baseline and/or LST), side by side
# with ESPnet's own ASR, in the style of ESPnet's egs2/TEMPLATE/asr1/asr.sh. Called by
# egs/<corpus>/asr1/run.sh.
#
#   stage 0: pretrain + pack (only for packages in --pretrained_model that do not exist;
#            trains in a private copy of --pretrain_recipe)      -> exp/packed/<model>.zip
#   stage 1: data: local/data.sh (or --src_data_dir), 16 kHz PCM -> data/<set>, dump/raw/<set>
#   stage 2: per package: unpack, units with ITS k-means          -> exp/pretrained_<m>, dump/units_<m>/<set>
#   stage 3: s2t fine-tuning corpus (speech prefix, then text)    -> corpus/<m>/<set>/seqs
#   stage 4: fine-tune (lst_train --init_param), pack            -> exp/asr_<m>[/packed.zip]
#   stage 5: decode greedy + beam (lst.bin.asr_inference), WER   -> exp/asr_<m>/decode_<set>_*/, RESULTS.md
#   stage 6: ESPnet ASR baseline: collect stats + train (fbank, CTC/attention) -> exp/asr_espnet
#   stage 7: ESPnet decode (espnet2.bin.asr_inference) + WER      -> exp/asr_espnet/decode_<set>/
#   stage 8: comparison table (WER, params, training time, RTF)   -> exp/RESULTS.md
# Every stage can be re-run on its own (--stage N --stop_stage N).
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }

stage=0
stop_stage=10000
skip_stages=""
python=python3
expdir=exp
# Data
src_data_dir=""          # directory holding <set>/{wav.scp,text} kaldi dirs; empty: run local/data.sh
local_data_opts=""
train_set=train
valid_set=valid
test_sets="test"
# Pretrained models
pretrained_model="exp/packed/token_lm.zip exp/packed/lst.zip"
pretrain_recipe=""       # egs/<corpus>/lst1, for stage 0
pretrain_work=exp/pretrain   # where stage 0 trains (a private copy of pretrain_recipe)
pretrain_configs="conf/train_token_lm_debug.yaml conf/train_lst_debug.yaml"
pretrain_args=""
# Fine-tuning
finetune_config=conf/finetune_asr.yaml
finetune_args=""
init_model=valid.loss.best.pth
# Decoding
beam_size=4
max_len=64
inference_args=""
# ESPnet baseline
espnet_asr_config=conf/espnet_asr.yaml
espnet_asr_args=""
espnet_inference_args="--beam_size 4 --ctc_weight 0.3"
espnet_model=valid.acc.best.pth
run_espnet=true

help_message=$(cat <<EOM
Usage: $0 --src_data_dir DIR --pretrained_model "a.zip b.zip" [options]
  --stage / --stop_stage / --skip_stages "6 7"
  --pretrain_recipe ../lst1 --pretrain_configs "..." (stage 0, for missing packages)
  --finetune_config ${finetune_config}  --beam_size ${beam_size}  --espnet_asr_config ${espnet_asr_config}
EOM
)
# shellcheck disable=SC1091
. ./path.sh
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Unexpected arguments: $*"; exit 1; }

run_stage() {
  [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ] || return 1
  for s in ${skip_stages}; do [ "$s" = "$1" ] && return 1; done
  return 0
}
require() { [ -e "$1" ] || { log "Error: $1 not found; it is made by $2. Run that stage first."; exit 1; }; }
stage_timer() { stage_start=$(date +%s); }
stage_done() { log "Stage $1 done in $(( $(date +%s) - stage_start )) s"; }
model_name() { basename "$1" | sed -E 's/\.(zip|tar\.gz|tgz)$//'; }

all_sets="${train_set} ${valid_set} ${test_sets}"
scripts=$(dirname "$(readlink -f "$0")")/scripts

if run_stage 0; then
  stage_timer
  for pm in ${pretrained_model}; do
    if [ ! -f "${pm}" ]; then
      [ -n "${pretrain_recipe}" ] || { log "Error: ${pm} not found and no --pretrain_recipe to make it"; exit 1; }
      log "Stage 0: ${pm} missing: pretraining in a private copy of ${pretrain_recipe}"
      "${scripts}/pretrain_and_pack.sh" "${pretrain_recipe}" "${pretrain_work}" "$(dirname "${pm}")" \
        "${pretrain_configs}" "${pretrain_args}"
      require "${pm}" "stage 0 (pretrain + pack; does ${pretrain_configs} make it?)"
    fi
  done
  stage_done 0
fi

if run_stage 1; then
  stage_timer
  if [ -z "${src_data_dir}" ]; then
    log "Stage 1: data preparation (local/data.sh ${local_data_opts})"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
  else
    log "Stage 1: data from ${src_data_dir}"
  fi
  for dset in ${all_sets}; do
    if [ -n "${src_data_dir}" ]; then
      require "${src_data_dir}/${dset}/wav.scp" "the source recipe's data preparation"
      "${scripts}/copy_data_dir.sh" "${src_data_dir}/${dset}" "data/${dset}"
    fi
    ${python} -m lst.bin.validate_data_dir "data/${dset}"
    ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" --out_dir "dump/raw/${dset}" --nj 1
  done
  stage_done 1
fi

if run_stage 2; then
  stage_timer
  for pm in ${pretrained_model}; do
    m=$(model_name "${pm}")
    require "${pm}" "stage 0 (pretrain + pack)"
    log "Stage 2: unpack ${pm} and dump its units"
    rm -rf "${expdir}/pretrained_${m}"
    ${python} -m lst.bin.prepare_downstream unpack --model "${pm}" --out_dir "${expdir}/pretrained_${m}"
    for dset in ${all_sets}; do
      ${python} -m lst.bin.prepare_downstream units --model "${expdir}/pretrained_${m}" \
        --wav_scp "dump/raw/${dset}/wav.scp" --out_dir "dump/units_${m}/${dset}"
    done
  done
  stage_done 2
fi

if run_stage 3; then
  stage_timer
  for pm in ${pretrained_model}; do
    m=$(model_name "${pm}")
    log "Stage 3: s2t corpus for ${m}"
    for dset in ${all_sets}; do
      require "dump/units_${m}/${dset}/units" "stage 2 (units)"
      ${python} -m lst.bin.build_corpus --units "dump/units_${m}/${dset}/units" \
        --unit_info "dump/units_${m}/${dset}/unit_info.json" --text "dump/raw/${dset}/text" \
        --bpe_model "${expdir}/pretrained_${m}/bpe.model" --kinds s2t --out "corpus/${m}/${dset}/seqs"
    done
  done
  stage_done 3
fi

if run_stage 4; then
  for pm in ${pretrained_model}; do
    stage_timer
    m=$(model_name "${pm}")
    ft=${expdir}/asr_${m}
    log "Stage 4: fine-tune ${m} on s2t -> ${ft} (log: ${ft}/train.log)"
    require "corpus/${m}/${train_set}/seqs" "stage 3 (corpus)"
    mkdir -p "${ft}"
    ${python} -m lst.bin.prepare_downstream finetune_config --model "${expdir}/pretrained_${m}" \
      --conf "${finetune_config}" --out "${ft}/ft_config.yaml"
    ${python} -m lst.bin.lst_train --collect_stats true --config "${ft}/ft_config.yaml" --ngpu 0 --num_workers 0 \
      --train_data_path_and_name_and_type "corpus/${m}/${train_set}/seqs,seq,text" \
      --valid_data_path_and_name_and_type "corpus/${m}/${valid_set}/seqs,seq,text" \
      --train_shape_file "corpus/${m}/${train_set}/seqs" --valid_shape_file "corpus/${m}/${valid_set}/seqs" \
      --output_dir "${ft}/stats"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    ${python} -m lst.bin.lst_train --config "${ft}/ft_config.yaml" --ngpu 0 --num_workers 0 --resume true \
      --init_param "${expdir}/pretrained_${m}/model.pth" \
      --train_data_path_and_name_and_type "corpus/${m}/${train_set}/seqs,seq,text" \
      --valid_data_path_and_name_and_type "corpus/${m}/${valid_set}/seqs,seq,text" \
      --train_shape_file "${ft}/stats/train/seq_shape" --valid_shape_file "${ft}/stats/valid/seq_shape" \
      --output_dir "${ft}" ${finetune_args} 2>&1 | tee -a "${ft}/train.log"
    echo $(( $(date +%s) - t0 )) > "${ft}/train_seconds"
    pd=${expdir}/pretrained_${m}
    ${python} -m lst.bin.pack_model --config "${ft}/config.yaml" --model_file "${ft}/${init_model}" \
      --bpe_model "${pd}/bpe.model" --km_dir "${pd}" --unit_info "${pd}/unit_info.json" --out "${ft}/packed.zip"
    stage_done 4
  done
fi

if run_stage 5; then
  for pm in ${pretrained_model}; do
    stage_timer
    m=$(model_name "${pm}")
    ft=${expdir}/asr_${m}
    require "${ft}/packed.zip" "stage 4 (fine-tuning)"
    for dset in ${valid_set} ${test_sets}; do
      for mode in greedy beam; do
        b=1; [ "${mode}" = beam ] && b=${beam_size}
        log "Stage 5: decode ${dset} with ${m} (${mode})"
        # shellcheck disable=SC2086
        ${python} -m lst.bin.asr_inference --model "${ft}/packed.zip" --wav_scp "dump/raw/${dset}/wav.scp" \
          --output_dir "${ft}/decode_${dset}_${mode}" --beam "${b}" --max_len "${max_len}" \
          --ref_text "dump/raw/${dset}/text" ${inference_args}
      done
    done
    ${python} -m lst.bin.downstream_results asr_lm --exp "${ft}" --sets "${valid_set} ${test_sets}" \
      --out "${ft}/RESULTS.md"
    stage_done 5
  done
fi

if ${run_espnet} && run_stage 6; then
  stage_timer
  es=${expdir}/asr_espnet
  first_pm=$(echo ${pretrained_model} | awk '{print $1}')
  bpemodel=${expdir}/pretrained_$(model_name "${first_pm}")/bpe.model
  require "${bpemodel}" "stage 2 (unpack)"
  token_list=data/espnet_token_list/bpe/tokens.txt
  log "Stage 6: ESPnet ASR baseline (${espnet_asr_config}) -> ${es} (log: ${es}/train.log)"
  ${python} -m lst.bin.prepare_downstream espnet_token_list --bpe_model "${bpemodel}" --out "${token_list}"
  common=(--use_preprocessor true --bpemodel "${bpemodel}" --token_type bpe --token_list "${token_list}"
          --non_linguistic_symbols none --cleaner none --g2p none --frontend default --frontend_conf fs=16k
          --ngpu 0 --num_workers 0
          --train_data_path_and_name_and_type "dump/raw/${train_set}/wav.scp,speech,sound"
          --train_data_path_and_name_and_type "dump/raw/${train_set}/text,text,text"
          --valid_data_path_and_name_and_type "dump/raw/${valid_set}/wav.scp,speech,sound"
          --valid_data_path_and_name_and_type "dump/raw/${valid_set}/text,text,text")
  ${python} -m lst.bin.espnet_asr_train --collect_stats true --config "${espnet_asr_config}" "${common[@]}" \
    --train_shape_file "dump/raw/${train_set}/wav.scp" --valid_shape_file "dump/raw/${valid_set}/wav.scp" \
    --output_dir "${es}/stats"
  n_tok=$(wc -l < "${token_list}")
  for d in train valid; do
    awk -v N="${n_tok}" '{ print $0 "," N }' "${es}/stats/${d}/text_shape" > "${es}/stats/${d}/text_shape.bpe"
  done
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_asr_train --config "${espnet_asr_config}" "${common[@]}" --resume true \
    --normalize global_mvn --normalize_conf "stats_file=${es}/stats/train/feats_stats.npz" \
    --train_shape_file "${es}/stats/train/speech_shape" --train_shape_file "${es}/stats/train/text_shape.bpe" \
    --valid_shape_file "${es}/stats/valid/speech_shape" --valid_shape_file "${es}/stats/valid/text_shape.bpe" \
    --output_dir "${es}" ${espnet_asr_args} 2>&1 | tee -a "${es}/train.log"
  echo $(( $(date +%s) - t0 )) > "${es}/train_seconds"
  stage_done 6
fi

if ${run_espnet} && run_stage 7; then
  stage_timer
  es=${expdir}/asr_espnet
  require "${es}/${espnet_model}" "stage 6 (ESPnet ASR training)"
  for dset in ${valid_set} ${test_sets}; do
    log "Stage 7: ESPnet decode ${dset}"
    rm -rf "${es}/decode_${dset}"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.espnet_asr_inference --timing_out "${es}/decode_${dset}/timing.json" \
      --asr_train_config "${es}/config.yaml" --asr_model_file "${es}/${espnet_model}" \
      --data_path_and_name_and_type "dump/raw/${dset}/wav.scp,speech,sound" --key_file "dump/raw/${dset}/wav.scp" \
      --output_dir "${es}/decode_${dset}" --ngpu 0 --batch_size 1 --lm_weight 0 ${espnet_inference_args}
    ${python} -m lst.bin.score_wer --ref "dump/raw/${dset}/text" --hyp "${es}/decode_${dset}/1best_recog/text" \
      --out "${es}/decode_${dset}/score.json"
  done
  stage_done 7
fi

if run_stage 8; then
  stage_timer
  models=""
  for pm in ${pretrained_model}; do models+=" $(model_name "${pm}")"; done
  log "Stage 8: comparison table -> ${expdir}/RESULTS.md"
  ${python} -m lst.bin.downstream_results asr_compare --expdir "${expdir}" --models "${models}" \
    --sets "${valid_set} ${test_sets}" --out "${expdir}/RESULTS.md"
  cat "${expdir}/RESULTS.md"
  stage_done 8
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
