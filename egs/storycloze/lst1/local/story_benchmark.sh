#!/usr/bin/env bash
# Story-completion benchmarks (cloze + topic forms; S->S, T->T, S->T, T->S) from the held-out
# StoryCloze stories (data/eval_stories.jsonl, written by stage 1), spoken in the held-out
# voice(s) and turned into units with the recipe's own feature + k-means model.
#   local/story_benchmark.sh [--n_stories -1] [--out data/story_bench.jsonl]
# Needs stages 1 (stories), 4 (k-means) and 6 (BPE) of ./run.sh.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

feature_type=mfcc      # must match run.sh (stage 3)
frame_rate_hz=25
n_clusters=100
ssl_ckpt=""
ssl_layer=9
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
. ./path.sh
. utils/parse_options.sh

km_dir=exp/kmeans_${feature_type}_${frame_rate_hz}hz_${n_clusters}
for f in "${eval_stories}:stage 1 (data preparation)" "${km_dir}/km.pkl:stage 4 (k-means)" \
         "data/bpe/bpe.model:stage 6 (BPE)"; do
  [ -e "${f%%:*}" ] || { log "Error: ${f%%:*} not found; it is made by ${f#*:} of ./run.sh"; exit 1; }
done
opts=""
[ -n "${voices}" ] && opts+=" --voices ${voices}"
[ -n "${rate}" ] && opts+=" --rate ${rate}"
[ "${feature_type}" = ssl ] && opts+=" --ssl_ckpt ${ssl_ckpt} --ssl_layer ${ssl_layer}"
log "Building ${out} from ${eval_stories} (${forms} x ${modes})"
# shellcheck disable=SC2086
python3 -m lst.bin.make_story_benchmark --eval_stories "${eval_stories}" --bpe_model data/bpe/bpe.model \
  --km_dir "${km_dir}" --feature_type "${feature_type}" --frame_rate_hz "${frame_rate_hz}" \
  --n_stories "${n_stories}" --forms "${forms}" --modes "${modes}" --seed "${seed}" \
  --work_dir "${work_dir}" --out "${out}" --nj "${nj}" ${opts}
