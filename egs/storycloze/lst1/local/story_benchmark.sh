#!/usr/bin/env bash
# Story-completion benchmarks (cloze + topic forms; S->S, T->T, S->T, T->S) from the held-out
# StoryCloze stories (data/eval_stories.jsonl, written by stage 1), spoken in the held-out
# voice(s) and turned into units with the recipe's own feature + k-means model.
#   local/story_benchmark.sh [--n_stories -1] [--out data/story_bench.jsonl]
# Needs stages 1 (stories), 4 (k-means) and 6 (BPE) of ./run.sh.
set -euo pipefail
. utils/lib.sh

opts_begin
run_opts=""            # ./run.sh options that name the units (e.g. "--n_clusters 50"): k-means, BPE and features come from it
n_stories=-1           # held-out stories to use (-1: all)
voices=""              # default: the held-out voices recorded in eval_stories.jsonl
rate=""                # default: the first speaking rate recorded there
forms="cloze,topic"
modes="S->S,T->T,S->T,T->S"
seed=0
nj=2
eval_stories=data/eval_stories.jsonl
out=data/story_bench.jsonl
work_dir=dump/story_bench
parse_options "$@"
recipe_env

# the recipe's own paths and unit settings for these options (./run.sh --print_paths true)
# shellcheck disable=SC2086
eval "$(./run.sh ${run_opts} --print_paths true | grep -E '^(km_dir|bpe_model|feature_type|frame_rate_hz|ssl_ckpt|ssl_layer)=')"
require "${eval_stories}" "stage 1 (data preparation) of ./run.sh"
require "${km_dir}/km.pkl" "stage 4 (k-means) of ./run.sh${run_opts:+ ${run_opts}}"
require "${bpe_model}" "stage 6 (BPE) of ./run.sh${run_opts:+ ${run_opts}}"
opts=""
[ -n "${voices}" ] && opts+=" --voices ${voices}"
[ -n "${rate}" ] && opts+=" --rate ${rate}"
[ "${feature_type}" != mfcc ] && opts+=" --ssl_ckpt ${ssl_ckpt} --ssl_layer ${ssl_layer}"
log "Building ${out} from ${eval_stories} (${forms} x ${modes})"
# shellcheck disable=SC2086
python3 local/make_story_benchmark.py --eval_stories "${eval_stories}" --bpe_model "${bpe_model}" \
  --km_dir "${km_dir}" --feature_type "${feature_type}" --frame_rate_hz "${frame_rate_hz}" \
  --n_stories "${n_stories}" --forms "${forms}" --modes "${modes}" --seed "${seed}" \
  --work_dir "${work_dir}" --out "${out}" --nj "${nj}" ${opts}
