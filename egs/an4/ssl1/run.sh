#!/usr/bin/env bash
# HuBERT iterations on this machine's speech: AN4 train + the LJ Speech subset (1.36 h),
# MFCC k-means targets (iteration 0), a small HuBERT (about an hour per iteration on 2 CPU
# cores), layer-4 k-means units, and unit quality against frame-level phone labels: espeak-ng
# phoneme events on synth_eval (held-out voice), a pocketsphinx forced alignment on an4_test
# (AN4 test, real speech never trained on; local/data.sh stage 4).
# Stages 1-6: hubert.sh. Stages 7-8: units -> text ASR on AN4 with every unit set (MFCC and
# each iteration's), the same model and number of updates for each (local/units_asr.sh; its
# options are given here as --asr_<name>, e.g. --asr_seeds "0 1" --asr_config FILE).
# Stage 9: resynthesis intelligibility per unit set: a unit vocoder trained on the LJ Speech
# clips of egs/ljspeech/tts1's train split, the tts1 test clips resynthesized and scored by
# pocketsphinx (local/resynth.sh; options as --resynth_<name>, e.g. --resynth_vocoder_steps 1000).
# Stage 10 (not run by default: it needs ../../rocstories/lst1's spoken stories and MFCC sweep):
# the story/BLiMP/HellaSwag spoken-LM benchmarks by unit set, each HuBERT iteration's units
# through the rocstories sweep beside its MFCC units (local/units_slm.sh; options as --slm_<name>):
#   ./run.sh --stage 10 --stop_stage 10 --hubert_tag small_s3600 --slm_sizes xs:64x2,s:128x2
# A second iteration:      ./run.sh --iterations "1 2"
# A longer iteration 1:    ./run.sh --hubert_tag small_s3600 --hubert_args "--max_epoch 72"
# Log-mel input (ESPnet's fbank frontend instead of the wav2vec CNN; 1.7x fewer CPU s a step):
#                          ./run.sh --hubert_config conf/train_hubert_fbank.yaml --hubert_tag fbank \
#                              --hubert_args "--max_epoch 120"
# The GPU configuration:   ./run.sh --hubert_config conf/train_hubert_base_gpu.yaml --ngpu 1 \
#                              --ssl_layer 6 --n_clusters 500
set -euo pipefail

stage=1
stop_stage=9            # 10: also the spoken-LM benchmarks (see above)
# HuBERT settings of this recipe (hubert.sh options); the unit sets of stages 7-8 follow them
n_clusters_it0=100
n_clusters=100
ssl_layer=4
iterations="1"
hubert_tag=""   # hubert.sh --hubert_tag (a named run's unit sets are it<I>_<tag>_l<L>_km<K>)
hubert_opts=()  # other hubert.sh options
asr_opts=()     # local/units_asr.sh options (--asr_<name> VALUE -> --<name> VALUE)
asr_unit_sets=""
resynth_opts=() # local/resynth.sh options (--resynth_<name> VALUE -> --<name> VALUE)
resynth_unit_sets=""
slm_opts=()     # local/units_slm.sh options (--slm_<name> VALUE -> --<name> VALUE)
slm_unit_sets=""
while [ $# -gt 0 ]; do
  if [ "$1" = --help ] || [ "$1" = -h ]; then
    echo "Usage: $0 [--stage N] [--stop_stage N] [hubert.sh options] [--asr_<units_asr.sh option> VALUE]" \
      "[--resynth_<resynth.sh option> VALUE]"
    ./hubert.sh --help || true; echo; echo "local/units_asr.sh (stages 7-8; give its options as --asr_<name>):"
    local/units_asr.sh --help || true
    echo; echo "local/resynth.sh (stage 9; give its options as --resynth_<name>):"
    local/resynth.sh --help || true
    echo; echo "local/units_slm.sh (stage 10; give its options as --slm_<name>):"
    local/units_slm.sh --help || true
    exit 0
  fi
  [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 2; }
  case "$1" in
    --stage) stage=$2 ;;
    --stop_stage) stop_stage=$2 ;;
    --n_clusters_it0) n_clusters_it0=$2 ;;
    --n_clusters) n_clusters=$2 ;;
    --ssl_layer) ssl_layer=$2 ;;
    --iterations) iterations=$2 ;;
    --hubert_tag) hubert_tag=$2; hubert_opts+=("$1" "$2") ;;
    --asr_unit_sets) asr_unit_sets=$2 ;;
    --asr_*) asr_opts+=("--${1#--asr_}" "$2") ;;
    --resynth_unit_sets) resynth_unit_sets=$2 ;;
    --resynth_*) resynth_opts+=("--${1#--resynth_}" "$2") ;;
    --slm_unit_sets) slm_unit_sets=$2 ;;
    --slm_*) slm_opts+=("--${1#--slm_}" "$2") ;;
    --python|--expdir) hubert_opts+=("$1" "$2"); asr_opts+=("$1" "$2"); resynth_opts+=("$1" "$2"); slm_opts+=("$1" "$2") ;;
    --dumpdir) hubert_opts+=("$1" "$2"); asr_opts+=("$1" "$2"); resynth_opts+=("$1" "$2") ;;
    --train_set) hubert_opts+=("$1" "$2"); asr_opts+=(--train_set "$2") ;;
    --valid_set) hubert_opts+=("$1" "$2"); asr_opts+=(--dev_set "$2") ;;
    *) hubert_opts+=("$1" "$2") ;;
  esac
  shift 2
done
if [ -z "${asr_unit_sets}" ]; then  # iteration 0 (MFCC) and every HuBERT iteration's units
  asr_unit_sets=it0_mfcc_km${n_clusters_it0}
  for it in ${iterations}; do asr_unit_sets+=" it${it}${hubert_tag:+_${hubert_tag}}_l${ssl_layer}_km${n_clusters}"; done
fi
[ -n "${resynth_unit_sets}" ] || resynth_unit_sets=${asr_unit_sets}
if [ -z "${slm_unit_sets}" ]; then  # every HuBERT iteration's checkpoint (hubert.sh: exp/hubert_it<I>_<tag>)
  for it in ${iterations}; do
    slm_unit_sets+=" it${it}${hubert_tag:+_${hubert_tag}}_l${ssl_layer}_km${n_clusters}=exp/hubert_it${it}_${hubert_tag:-train_hubert_small}/valid.loss.best.pth"
  done
fi

if [ "${stage}" -le 6 ]; then
  ./hubert.sh \
      --train_set train \
      --valid_set valid \
      --eval_sets "synth_eval an4_test" \
      --n_clusters_it0 "${n_clusters_it0}" \
      --n_clusters "${n_clusters}" \
      --ssl_layer "${ssl_layer}" \
      --iterations "${iterations}" \
      --hubert_config conf/train_hubert_small.yaml \
      --stage "${stage}" --stop_stage "$(( stop_stage < 6 ? stop_stage : 6 ))" \
      ${hubert_opts[@]+"${hubert_opts[@]}"}
fi

if [ "${stop_stage}" -ge 7 ] && [ "${stage}" -le 8 ]; then
  local/units_asr.sh \
      --unit_sets "${asr_unit_sets}" \
      --test_set an4_test \
      --stage "$(( stage > 7 ? stage : 7 ))" --stop_stage "$(( stop_stage < 8 ? stop_stage : 8 ))" \
      ${asr_opts[@]+"${asr_opts[@]}"}
fi

if [ "${stop_stage}" -ge 9 ] && [ "${stage}" -le 9 ]; then
  local/resynth.sh \
      --unit_sets "${resynth_unit_sets}" \
      --stage 9 --stop_stage 9 \
      ${resynth_opts[@]+"${resynth_opts[@]}"}
fi

if [ "${stop_stage}" -ge 10 ]; then
  local/units_slm.sh \
      --unit_sets "${slm_unit_sets# }" \
      --ssl_layer "${ssl_layer}" \
      ${slm_opts[@]+"${slm_opts[@]}"}
fi
