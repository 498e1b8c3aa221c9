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
# The budget is --budget_epochs epochs of the token baseline over the train corpus (or an
# absolute --flop_budget). Finished runs are not redone (delete exp/compare/<run> to redo).
# --control steps (the paper's protocol): every run makes --steps updates of --pack_rows rows x
# --pack_len global positions instead (e.g. local/compare.sh --control steps --steps 200
# --out_dir exp/compare_steps); RESULTS name the protocol of each row.
set -euo pipefail
. utils/lib.sh

opts_begin
budget_epochs=0.5
flop_budget=""
control=flops                # flops (equal training FLOPs) or steps (equal updates x global positions per update)
steps=""                     # --control steps: optimizer updates per run
pack_len=512                 # --control steps: global positions per packed row
pack_rows=4                  # --control steps: rows per update
target_epochs=2
n_stories=40                 # held-out stories in the benchmark (-1: all)
models="token_lm lst_static lst_aligned lst_curriculum lst_silence"
data_controlled=token_lm
data_reference=lst_curriculum
run_opts=""                  # ./run.sh options that name the data (e.g. "--n_clusters 50"): paths come from it
ngpu=0
threads=1                    # OMP threads per training/eval process: >1 on a busy 2-core box spin-waits (10x slower)
train_set=train
valid_set=valid
out_dir=exp/compare
benchmark=""
results=exp/RESULTS.md
plot=exp/compare_accuracy_vs_flops.png
parse_options "$@"
recipe_env

# the recipe's own paths for these data options (./run.sh --print_paths true)
# shellcheck disable=SC2086
eval "$(./run.sh ${run_opts} --print_paths true | grep -E '^(km_dir|token_list|corpus_dir)=')"
require "${corpus_dir}/${train_set}/seqs" "stage 7 (corpus) of ./run.sh${run_opts:+ ${run_opts}}"
require "${corpus_dir}/${valid_set}/seqs" "stage 7 (corpus) of ./run.sh${run_opts:+ ${run_opts}}"
require "${token_list}" "stage 6 (token list) of ./run.sh${run_opts:+ ${run_opts}}"
require "${km_dir}/silence_units.json" "stage 4 (k-means) of ./run.sh${run_opts:+ ${run_opts}}"
[ -n "${benchmark}" ] || benchmark=data/story_bench_n${n_stories}.jsonl
if [ ! -f "${benchmark}" ]; then
  log "Story benchmark -> ${benchmark}"
  local/story_benchmark.sh --run_opts "${run_opts}" --n_stories "${n_stories}" --out "${benchmark}" \
    --work_dir "dump/story_bench_n${n_stories}"
fi
mkdir -p "${out_dir}"
stats_dir=${out_dir}/stats
if [ ! -f "${stats_dir}/valid/seq_shape" ]; then
  log "Collect stats -> ${stats_dir}"
  python3 -m lst.bin.lst_train --collect_stats true --config conf/compare_token_lm.yaml \
    --token_list "${token_list}" --ngpu 0 --num_workers 0 \
    --train_data_path_and_name_and_type "${corpus_dir}/${train_set}/seqs,seq,text" \
    --valid_data_path_and_name_and_type "${corpus_dir}/${valid_set}/seqs,seq,text" \
    --train_shape_file "${corpus_dir}/${train_set}/seqs" --valid_shape_file "${corpus_dir}/${valid_set}/seqs" \
    --output_dir "${stats_dir}" > "${out_dir}/collect_stats.log" 2>&1
fi
configs=""
for m in ${models}; do
  [ -f "conf/compare_${m}.yaml" ] || die "conf/compare_${m}.yaml not found"
  configs+=" conf/compare_${m}.yaml"
done
if [ "${control}" = steps ]; then
  [ -n "${steps}" ] || die "--control steps needs --steps N"
  budget_opt="--control steps --steps ${steps} --pack_len ${pack_len} --pack_rows ${pack_rows}"
elif [ -n "${flop_budget}" ]; then budget_opt="--flop_budget ${flop_budget}"; else budget_opt="--flop_budget_epochs ${budget_epochs}"; fi
log "Comparison: ${models} (+ data-controlled ${data_controlled}) -> ${results}"
# shellcheck disable=SC2086
python3 -m lst.bin.compare_models --token_list "${token_list}" \
  --train "${corpus_dir}/${train_set}/seqs" --valid "${corpus_dir}/${valid_set}/seqs" --stats_dir "${stats_dir}" \
  --benchmark "${benchmark}" --configs ${configs} ${budget_opt} --target_epochs "${target_epochs}" \
  --data_controlled "${data_controlled}" --data_reference "${data_reference}" \
  --silence_units_file "${km_dir}/silence_units.json" --ngpu "${ngpu}" --threads "${threads}" \
  --out_dir "${out_dir}" --results "${results}" --plot "${plot}"
log "Done: ${results}"
