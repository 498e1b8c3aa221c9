#!/usr/bin/env bash
# Compute-controlled comparison on spoken StoryCloze: token baseline vs LST (static, aligned,
# curriculum, silence patching) under the same training-FLOP budget, plus the data-controlled
# baseline (as many training sequences as LST-curriculum saw), each scored on the story
# benchmarks -> exp/RESULTS.md and exp/compare_accuracy_vs_flops{,_norm}.png.
#
#   ./run.sh --stop_stage 7            # data, units, BPE, corpus (once)
#   local/compare.sh                   # CPU size: budget = 0.5 baseline epochs, 40 held-out stories
#                                      # (measured on the 2-core machine: ~15 min for all 6 runs + evals)
#   local/compare.sh --budget_epochs 20 --ngpu 1 --n_stories -1 --out_dir exp/compare_gpu   # GPU size
#
# The budget is --budget_epochs epochs of the token baseline over corpus/train/seqs (or an
# absolute --flop_budget). Finished runs are not redone (delete exp/compare/<run> to redo).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

budget_epochs=0.5
flop_budget=""
target_epochs=2
n_stories=40                 # held-out stories in the benchmark (-1: all)
models="token_lm lst_static lst_aligned lst_curriculum lst_silence"
data_controlled=token_lm
data_reference=lst_curriculum
feature_type=mfcc
frame_rate_hz=25
n_clusters=100
ngpu=0
threads=1                    # OMP threads per training/eval process: >1 on a busy 2-core box spin-waits (10x slower)
train_set=train
valid_set=valid
out_dir=exp/compare
benchmark=""
results=exp/RESULTS.md
plot=exp/compare_accuracy_vs_flops.png
. ./path.sh
. utils/parse_options.sh

km_dir=exp/kmeans_${feature_type}_${frame_rate_hz}hz_${n_clusters}
token_list=data/token_list/tokens.txt
for f in "corpus/${train_set}/seqs:stage 7 (corpus)" "corpus/${valid_set}/seqs:stage 7 (corpus)" \
         "${token_list}:stage 6 (token list)" "${km_dir}/silence_units.json:stage 4 (k-means)"; do
  [ -e "${f%%:*}" ] || { log "Error: ${f%%:*} not found; it is made by ${f#*:} of ./run.sh"; exit 1; }
done
[ -n "${benchmark}" ] || benchmark=data/story_bench_n${n_stories}.jsonl
if [ ! -f "${benchmark}" ]; then
  log "Story benchmark -> ${benchmark}"
  local/story_benchmark.sh --feature_type "${feature_type}" --frame_rate_hz "${frame_rate_hz}" \
    --n_clusters "${n_clusters}" --n_stories "${n_stories}" --out "${benchmark}" \
    --work_dir "dump/story_bench_n${n_stories}"
fi
mkdir -p "${out_dir}"
stats_dir=${out_dir}/stats
if [ ! -f "${stats_dir}/valid/seq_shape" ]; then
  log "Collect stats -> ${stats_dir}"
  python3 -m lst.bin.lst_train --collect_stats true --config conf/compare_token_lm.yaml \
    --token_list "${token_list}" --ngpu 0 --num_workers 0 \
    --train_data_path_and_name_and_type "corpus/${train_set}/seqs,seq,text" \
    --valid_data_path_and_name_and_type "corpus/${valid_set}/seqs,seq,text" \
    --train_shape_file "corpus/${train_set}/seqs" --valid_shape_file "corpus/${valid_set}/seqs" \
    --output_dir "${stats_dir}" > "${out_dir}/collect_stats.log" 2>&1
fi
configs=""
for m in ${models}; do
  [ -f "conf/compare_${m}.yaml" ] || { log "Error: conf/compare_${m}.yaml not found"; exit 1; }
  configs+=" conf/compare_${m}.yaml"
done
if [ -n "${flop_budget}" ]; then budget_opt="--flop_budget ${flop_budget}"; else budget_opt="--flop_budget_epochs ${budget_epochs}"; fi
log "Comparison: ${models} (+ data-controlled ${data_controlled}) -> ${results}"
# shellcheck disable=SC2086
python3 -m lst.bin.compare_models --token_list "${token_list}" \
  --train "corpus/${train_set}/seqs" --valid "corpus/${valid_set}/seqs" --stats_dir "${stats_dir}" \
  --benchmark "${benchmark}" --configs ${configs} ${budget_opt} --target_epochs "${target_epochs}" \
  --data_controlled "${data_controlled}" --data_reference "${data_reference}" \
  --silence_units_file "${km_dir}/silence_units.json" --ngpu "${ngpu}" --threads "${threads}" \
  --out_dir "${out_dir}" --results "${results}" --plot "${plot}"
log "Done: ${results}"
