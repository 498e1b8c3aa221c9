#!/usr/bin/env bash
# Downstream TTS from a pretrained speech-text LM (token baseline and/or LST): fine-tune on
# text -> speech units, generate units (LST: one global step per patch), vocode them with a
# unit vocoder trained here, and score the audio with an independent recognizer (ESPnet's
# ASR baseline from the asr1 recipe). Called by egs/<corpus>/tts1/run.sh.
#
#   stage 0: pretrain + pack (only for missing packages; private copy of --pretrain_recipe)
#   stage 1: data: local/data.sh (or --src_data_dir), 16 kHz PCM   -> data/<set>, dump/raw/<set>
#   stage 2: per package: unpack, reference units with ITS k-means  -> exp/pretrained_<m>, dump/units_<m>/<set>
#   stage 3: t2s fine-tuning corpus (text, then speech)             -> corpus/<m>/<set>/seqs
#   stage 4: fine-tune (lst_train --init_param), pack               -> exp/tts_<m>[/packed.zip]
#   stage 5: unit vocoder (units -> log-mel net + Griffin-Lim)      -> exp/vocoder/vocoder.pth
#   stage 6: synthesis (lst.bin.tts_inference) + reference resynthesis -> exp/tts_<m>/decode_<set>/
#   stage 7: recognizer scoring (ESPnet ASR of --asr_exp): WER/CER   -> .../asr_score.json
#   stage 8: RESULTS.md (WER/CER, unit error rate, global steps / s of speech, decode time)
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }

stage=0
stop_stage=10000
skip_stages=""
python=python3
expdir=exp
src_data_dir=""
local_data_opts=""
train_set=train
valid_set=valid
test_sets="test"
pretrained_model="exp/packed/token_lm.zip exp/packed/lst.zip"
pretrain_recipe=""
pretrain_work=exp/pretrain
pretrain_configs="conf/train_token_lm_debug.yaml conf/train_lst_debug.yaml"
pretrain_args=""
finetune_config=conf/finetune_tts.yaml
finetune_args=""
init_model=valid.loss.best.pth
# Generation
max_units_per_token=40
max_units=1500
min_units=5
inference_args=""
# Vocoder
vocoder_steps=400
vocoder_args=""
griffin_lim_iters=32
# Recognizer (an ESPnet ASR experiment dir with config.yaml; paths in it are relative to its recipe)
asr_exp=""
asr_model=valid.acc.best.pth
asr_inference_args="--beam_size 4 --ctc_weight 0.3"

help_message=$(cat <<EOM
Usage: $0 --pretrained_model "a.zip b.zip" --asr_exp ../asr1/exp/asr_espnet [options]
  --stage / --stop_stage / --skip_stages "7"
  --finetune_config ${finetune_config}  --vocoder_steps ${vocoder_steps}  --max_units_per_token ${max_units_per_token}
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
scripts=$(dirname "$(readlink -f "$0")")/../asr1/scripts
models=""
for pm in ${pretrained_model}; do models+=" $(model_name "${pm}")"; done
first_m=$(echo ${models} | awk '{print $1}')

if run_stage 0; then
  stage_timer
  for pm in ${pretrained_model}; do
    if [ ! -f "${pm}" ]; then
      [ -n "${pretrain_recipe}" ] || { log "Error: ${pm} not found and no --pretrain_recipe to make it"; exit 1; }
      log "Stage 0: ${pm} missing: pretraining in a private copy of ${pretrain_recipe}"
      "${scripts}/pretrain_and_pack.sh" "${pretrain_recipe}" "${pretrain_work}" "$(dirname "${pm}")" \
        "${pretrain_configs}" "${pretrain_args}"
      require "${pm}" "stage 0 (pretrain + pack)"
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
    log "Stage 2: unpack ${pm}, reference units"
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
  for m in ${models}; do
    log "Stage 3: t2s corpus for ${m}"
    for dset in ${all_sets}; do
      require "dump/units_${m}/${dset}/units" "stage 2 (units)"
      ${python} -m lst.bin.build_corpus --units "dump/units_${m}/${dset}/units" \
        --unit_info "dump/units_${m}/${dset}/unit_info.json" --text "dump/raw/${dset}/text" \
        --bpe_model "${expdir}/pretrained_${m}/bpe.model" --kinds t2s --out "corpus/${m}/${dset}/seqs"
    done
  done
  stage_done 3
fi

if run_stage 4; then
  for m in ${models}; do
    stage_timer
    ft=${expdir}/tts_${m}
    log "Stage 4: fine-tune ${m} on t2s -> ${ft} (log: ${ft}/train.log)"
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
  stage_timer
  log "Stage 5: unit vocoder on ${train_set} (units of ${first_m}'s k-means) -> ${expdir}/vocoder"
  require "dump/units_${first_m}/${train_set}/units" "stage 2 (units)"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.train_vocoder --wav_scp "dump/raw/${train_set}/wav.scp" \
    --units "dump/units_${first_m}/${train_set}/units" --model "${pretrained_model%% *}" \
    --out_dir "${expdir}/vocoder" --steps "${vocoder_steps}" ${vocoder_args}
  stage_done 5
fi

if run_stage 6; then
  stage_timer
  require "${expdir}/vocoder/vocoder.pth" "stage 5 (vocoder)"
  for dset in ${test_sets}; do
    log "Stage 6: reference-unit resynthesis of ${dset}"
    ${python} -m lst.bin.vocode_units --vocoder "${expdir}/vocoder/vocoder.pth" \
      --units "dump/units_${first_m}/${dset}/units" --output_dir "${expdir}/tts_reference/decode_${dset}" \
      --griffin_lim_iters "${griffin_lim_iters}"
    for m in ${models}; do
      ft=${expdir}/tts_${m}
      require "${ft}/packed.zip" "stage 4 (fine-tuning)"
      log "Stage 6: synthesize ${dset} with ${m}"
      # shellcheck disable=SC2086
      ${python} -m lst.bin.tts_inference --model "${ft}/packed.zip" --vocoder "${expdir}/vocoder/vocoder.pth" \
        --text "dump/raw/${dset}/text" --output_dir "${ft}/decode_${dset}" --ref_units "dump/units_${m}/${dset}/units" \
        --max_units_per_token "${max_units_per_token}" --max_units "${max_units}" --min_units "${min_units}" \
        --griffin_lim_iters "${griffin_lim_iters}" ${inference_args}
    done
  done
  stage_done 6
fi

if run_stage 7; then
  stage_timer
  [ -n "${asr_exp}" ] || { log "Error: --asr_exp (an ESPnet ASR experiment, e.g. ../asr1/exp/asr_espnet) is required"; exit 1; }
  require "${asr_exp}/${asr_model}" "the asr1 recipe's ESPnet stage"
  asr_root=$(cd "$(dirname "${asr_exp}")/.." && pwd)  # the recipe dir its config paths are relative to
  asr_abs=$(cd "${asr_exp}" && pwd)
  for dset in ${test_sets}; do
    for m in reference ${models}; do
      d=$(pwd)/${expdir}/tts_${m}/decode_${dset}
      require "${d}/wav.scp" "stage 6 (synthesis)"
      log "Stage 7: recognize ${d}/wav.scp with ${asr_exp}"
      rm -rf "${d}/asr"
      # shellcheck disable=SC2086
      (cd "${asr_root}" && ${python} -m lst.bin.espnet_asr_inference --asr_train_config "${asr_abs}/config.yaml" \
        --asr_model_file "${asr_abs}/${asr_model}" --data_path_and_name_and_type "${d}/wav.scp,speech,sound" \
        --key_file "${d}/wav.scp" --output_dir "${d}/asr" --ngpu 0 --batch_size 1 --lm_weight 0 ${asr_inference_args})
      ${python} -m lst.bin.score_wer --ref "dump/raw/${dset}/text" --hyp "${d}/asr/1best_recog/text" \
        --out "${d}/asr_score.json"
    done
  done
  stage_done 7
fi

if run_stage 8; then
  stage_timer
  log "Stage 8: RESULTS.md"
  ${python} -m lst.bin.downstream_results tts --expdir "${expdir}" --models "${models}" --sets "${test_sets}" \
    --out "${expdir}/RESULTS.md"
  stage_done 8
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
