#!/usr/bin/env bash
# Shared stage-numbered recipe for speech-text LMs over discrete units (token baseline or
# LST), in the style of ESPnet's egs2/TEMPLATE/asr1/asr.sh. Called by egs/<corpus>/lst1/run.sh.
#
#   stage 1: data prep (local/data.sh -> data/{train,valid,test} kaldi dirs) + validation
#   stage 2: audio format (16 kHz mono PCM)         -> dump/raw/<set>  (+ word_ctm with --word_aligner)
#   stage 3: frame features (MFCC or SSL layer)     -> dump/feats/<set>
#   stage 4: k-means learning on the train set      -> exp/kmeans_<K>
#   stage 5: unit dump                              -> dump/units/<set>/units
#   stage 6: sentencepiece BPE + joint token list   -> data/bpe, data/token_list/tokens.txt
#   stage 7: corpus build (speech/text/s2t/t2s, +interleaved when word_ctm exists) -> corpus/<set>/seqs
#   stage 8: collect stats (ESPnet collect_stats)   -> exp/lst_stats
#   stage 9: training (ESPnet trainer)              -> exp/lst_<tag>
#   stage 10: evaluation: per-kind, per-modality validation loss -> exp/lst_<tag>/RESULTS.md
# Every stage can be re-run on its own (--stage N --stop_stage N); training resumes from its
# last checkpoint. A stage whose input is missing stops and names the stage that makes it.
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }

# General
stage=1
stop_stage=10000
skip_stages=""
nj=2
python=python3
dumpdir=dump
expdir=exp
# Data
local_data_opts=""
train_set=train
valid_set=valid
test_sets="test"
word_aligner=""        # a trained lst.bin.ctc_align model dir: stage 2 writes word_ctm for recorded audio
# Units
feature_type=mfcc      # mfcc or ssl
ssl_ckpt=""            # local s3prl-loadable checkpoint (feature_type=ssl)
ssl_layer=9
frame_rate_hz=50       # 50 (native) or 25 (2x pooled)
n_clusters=100
kmeans_max_frames=100000
dedup=false
# Text
nbpe=100
bpe_type=bpe           # bpe or unigram (sentencepiece model_type)
# Corpus
corpus_kinds="speech text s2t t2s"
interleave=true        # add SpiritLM-style word-level interleaved sequences when word_ctm exists
interleave_opts=""
# Training
lst_config=""
lst_tag=""
lst_args=""
collect_stats_args=""
eval_model=valid.loss.best.pth

help_message=$(cat <<EOM
Usage: $0 --lst_config conf/train.yaml [options]
  --stage / --stop_stage / --skip_stages "3 4"   which stages to run
  --word_aligner DIR   CTC aligner (lst.bin.ctc_align train) for word timings of recorded audio
  --nj ${nj}  --feature_type ${feature_type}  --ssl_ckpt PATH --ssl_layer ${ssl_layer}
  --frame_rate_hz ${frame_rate_hz}  --n_clusters ${n_clusters}  --dedup ${dedup}  --nbpe ${nbpe}
  --corpus_kinds "${corpus_kinds}"  --lst_config FILE  --lst_tag TAG  --lst_args "..."
EOM
)
# shellcheck disable=SC1091
. ./path.sh
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Unexpected arguments: $*"; exit 1; }

run_stage() {  # run_stage N: is stage N selected?
  [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ] || return 1
  for s in ${skip_stages}; do [ "$s" = "$1" ] && return 1; done
  return 0
}
require() {  # require FILE "stage N (name)": stop with a clear message if FILE is missing
  [ -e "$1" ] || { log "Error: $1 not found; it is made by $2. Run that stage first (--stage ${2//[^0-9]/})."; exit 1; }
}
stage_timer() { stage_start=$(date +%s); }
stage_done() { echo "$(date "+%Y-%m-%dT%H:%M:%S") (lst.sh) Stage $1 done in $(( $(date +%s) - stage_start )) s"; }

all_sets="${train_set} ${valid_set} ${test_sets}"
[ -n "${lst_config}" ] || { log "Error: --lst_config is required"; exit 1; }
[ -n "${lst_tag}" ] || lst_tag=$(basename "${lst_config}" .yaml)
km_dir=${expdir}/kmeans_${feature_type}_${frame_rate_hz}hz_${n_clusters}
token_list=data/token_list/tokens.txt
bpe_model=data/bpe/bpe.model
stats_dir=${expdir}/lst_stats
lst_exp=${expdir}/lst_${lst_tag}

if run_stage 1; then
  stage_timer
  log "Stage 1: data preparation (local/data.sh ${local_data_opts})"
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
  for dset in ${all_sets}; do
    ${python} -m lst.bin.validate_data_dir "data/${dset}"
  done
  stage_done 1
fi

if run_stage 2; then
  stage_timer
  log "Stage 2: audio format -> ${dumpdir}/raw"
  for dset in ${all_sets}; do
    require "data/${dset}/wav.scp" "stage 1 (data preparation)"
    ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" --out_dir "${dumpdir}/raw/${dset}" --nj "${nj}"
    if [ -n "${word_aligner}" ]; then
      log "Forced alignment of ${dset} with ${word_aligner} -> ${dumpdir}/raw/${dset}/word_ctm"
      ${python} -m lst.bin.ctc_align align --model_dir "${word_aligner}" --data_dir "${dumpdir}/raw/${dset}" \
        --out "${dumpdir}/raw/${dset}/word_ctm"
    fi
  done
  stage_done 2
fi

if run_stage 3; then
  stage_timer
  log "Stage 3: ${feature_type} features at ${frame_rate_hz} Hz -> ${dumpdir}/feats"
  ssl_opts=""
  [ "${feature_type}" = ssl ] && ssl_opts="--ssl_ckpt ${ssl_ckpt} --ssl_layer ${ssl_layer}"
  for dset in ${all_sets}; do
    require "${dumpdir}/raw/${dset}/wav.scp" "stage 2 (audio format)"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.dump_features --wav_scp "${dumpdir}/raw/${dset}/wav.scp" \
      --out_dir "${dumpdir}/feats/${dset}" --feature_type "${feature_type}" \
      --frame_rate_hz "${frame_rate_hz}" --nj "${nj}" ${ssl_opts}
  done
  stage_done 3
fi

if run_stage 4; then
  stage_timer
  log "Stage 4: k-means (K=${n_clusters}) on ${train_set} -> ${km_dir}"
  require "${dumpdir}/feats/${train_set}/feats.scp" "stage 3 (features)"
  ${python} -m lst.bin.learn_kmeans --feats_dir "${dumpdir}/feats/${train_set}" \
    --n_clusters "${n_clusters}" --out_dir "${km_dir}" --max_frames "${kmeans_max_frames}"
  stage_done 4
fi

if run_stage 5; then
  stage_timer
  log "Stage 5: unit dump -> ${dumpdir}/units"
  require "${km_dir}/km.pkl" "stage 4 (k-means)"
  for dset in ${all_sets}; do
    require "${dumpdir}/feats/${dset}/feats.scp" "stage 3 (features)"
    ${python} -m lst.bin.dump_units --feats_dir "${dumpdir}/feats/${dset}" --km_dir "${km_dir}" \
      --out_dir "${dumpdir}/units/${dset}" --dedup "${dedup}" --nj "${nj}"
  done
  stage_done 5
fi

if run_stage 6; then
  stage_timer
  log "Stage 6: sentencepiece ${bpe_type} (${nbpe}) + joint token list -> ${token_list}"
  require "${dumpdir}/raw/${train_set}/text" "stage 2 (audio format)"
  require "${dumpdir}/units/${train_set}/unit_info.json" "stage 5 (unit dump)"
  ${python} -m lst.bin.make_token_list --text "${dumpdir}/raw/${train_set}/text" \
    --unit_info "${dumpdir}/units/${train_set}/unit_info.json" --nbpe "${nbpe}" --bpe_type "${bpe_type}" \
    --bpe_prefix "${bpe_model%.model}" --token_list "${token_list}"
  stage_done 6
fi

if run_stage 7; then
  stage_timer
  log "Stage 7: corpus build (${corpus_kinds}) -> corpus/"
  require "${bpe_model}" "stage 6 (BPE)"
  for dset in ${all_sets}; do
    require "${dumpdir}/units/${dset}/units" "stage 5 (unit dump)"
    ctm_opt=""
    [ -f "${dumpdir}/raw/${dset}/word_ctm" ] && ctm_opt="--word_ctm ${dumpdir}/raw/${dset}/word_ctm"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.build_corpus --units "${dumpdir}/units/${dset}/units" \
      --unit_info "${dumpdir}/units/${dset}/unit_info.json" --text "${dumpdir}/raw/${dset}/text" \
      --bpe_model "${bpe_model}" --kinds "${corpus_kinds}" --out "corpus/${dset}/seqs" ${ctm_opt}
    if [ -n "${ctm_opt}" ] && [ "${interleave}" = true ]; then
      # shellcheck disable=SC2086
      ${python} -m lst.bin.build_interleaved --units "${dumpdir}/units/${dset}/units" \
        --unit_info "${dumpdir}/units/${dset}/unit_info.json" ${ctm_opt} \
        --text "${dumpdir}/raw/${dset}/text" --bpe_model "${bpe_model}" \
        --out "corpus/${dset}/seqs.inter" ${interleave_opts}
      cat "corpus/${dset}/seqs.inter" >> "corpus/${dset}/seqs"
      sort -o "corpus/${dset}/seqs" "corpus/${dset}/seqs"
    fi
  done
  stage_done 7
fi

if run_stage 8; then
  stage_timer
  log "Stage 8: collect stats -> ${stats_dir} (log: ${expdir}/collect_stats.log)"
  mkdir -p "${expdir}"
  require "corpus/${train_set}/seqs" "stage 7 (corpus build)"
  require "corpus/${valid_set}/seqs" "stage 7 (corpus build)"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.lst_train --collect_stats true --config "${lst_config}" \
    --token_list "${token_list}" --ngpu 0 --num_workers 0 \
    --train_data_path_and_name_and_type "corpus/${train_set}/seqs,seq,text" \
    --valid_data_path_and_name_and_type "corpus/${valid_set}/seqs,seq,text" \
    --train_shape_file "corpus/${train_set}/seqs" --valid_shape_file "corpus/${valid_set}/seqs" \
    --output_dir "${stats_dir}" ${collect_stats_args} 2>&1 | tee "${expdir}/collect_stats.log"
  stage_done 8
fi

if run_stage 9; then
  stage_timer
  log "Stage 9: training (${lst_config}) -> ${lst_exp} (log: ${lst_exp}/train.log)"
  mkdir -p "${lst_exp}"
  require "${stats_dir}/train/seq_shape" "stage 8 (collect stats)"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.lst_train --config "${lst_config}" --token_list "${token_list}" \
    --ngpu 0 --num_workers 0 --resume true \
    --train_data_path_and_name_and_type "corpus/${train_set}/seqs,seq,text" \
    --valid_data_path_and_name_and_type "corpus/${valid_set}/seqs,seq,text" \
    --train_shape_file "${stats_dir}/train/seq_shape" --valid_shape_file "${stats_dir}/valid/seq_shape" \
    --output_dir "${lst_exp}" ${lst_args} 2>&1 | tee -a "${lst_exp}/train.log"
  stage_done 9
fi

if run_stage 10; then
  stage_timer
  log "Stage 10: evaluation on ${valid_set} ${test_sets} -> ${lst_exp}/RESULTS.md"
  require "${lst_exp}/${eval_model}" "stage 9 (training)"
  eval_data=""
  for dset in ${valid_set} ${test_sets}; do
    require "corpus/${dset}/seqs" "stage 7 (corpus build)"
    eval_data+=" --data ${dset}=corpus/${dset}/seqs"
  done
  # shellcheck disable=SC2086
  ${python} -m lst.bin.evaluate --config "${lst_exp}/config.yaml" --model_file "${lst_exp}/${eval_model}" \
    ${eval_data} --results "${lst_exp}/RESULTS.md"
  stage_done 10
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
