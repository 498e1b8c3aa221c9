#!/usr/bin/env bash
# The four benchmarks of issue 17 as item files (lst.bin.make_benchmark), spoken parts in the
# held-out voice and rate (lst.tts.voices) and turned into units with this recipe's features
# and k-means model:
#   data/bench/sc.jsonl         Story Cloze (cloze form), labelled 2016+2018 validation stories
#   data/bench/tsc.jsonl        Topic Story Cloze (right ending vs another story's right ending;
#                               its utterances are a subset of sc's: one work dir, spoken once)
#   data/bench/blimp.jsonl      BLiMP pairs, empty context, S->S (spoken) and T->T (written)
#   data/bench/hellaswag.jsonl  HellaSwag, 4 endings; context and endings spoken separately
# Needs stages 4 (k-means) and 6 (BPE) of ./run.sh (which passes --km_dir and --bpe_model).   --n_items -1 = all items.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

km_dir=""              # the recipe's k-means dir (./run.sh passes lst.sh's)
bpe_model=""           # the recipe's BPE model
feature_type=mfcc      # must match the k-means features (mfcc, ssl or espnet_ssl)
frame_rate_hz=25
ssl_ckpt=""            # the SSL checkpoint of those features (feature_type ssl / espnet_ssl)
ssl_layer=9
benchmarks="sc tsc blimp hellaswag"
modes="S->S,T->T,S->T,T->S"
n_items=200             # per benchmark: stories / HellaSwag items / BLiMP pairs (round-robin over paradigms)
n_items_blimp=670       # 10 per paradigm
seed=0
nj=2
out_dir=data/bench
work_root=dump/bench   # audio, features and units of the spoken items (<work_root>/<benchmark>_n<N>);
                       # give each unit set its own (e.g. dump/bench_<unit_tag>) so they are not re-spoken in turn
. ./path.sh
. utils/parse_options.sh

for f in "${km_dir}/km.pkl:stage 4 (k-means)" "${bpe_model}:stage 6 (BPE)"; do
  [ -e "${f%%:*}" ] || { log "Error: ${f%%:*} not found; it is made by ${f#*:} of ./run.sh"; exit 1; }
done
for b in ${benchmarks}; do
  case "${b}" in
    sc|tsc) src="downloads/cloze_val.csv downloads/cloze2016_val.csv"; n=${n_items}; work=storycloze ;;
    blimp) src=${LST_SHARED}/data/blimp/blimp_dev.jsonl; n=${n_items_blimp}; work=blimp ;;
    hellaswag) src=${LST_SHARED}/data/hellaswag/hellaswag_dev.jsonl; n=${n_items}; work=hellaswag ;;
    *) log "Error: unknown benchmark ${b}"; exit 1 ;;
  esac
  out=${out_dir}/${b}.jsonl
  made="${n} ${modes} ${seed} ${km_dir} ${bpe_model}"
  [ "${feature_type}" = mfcc ] || made+=" ${ssl_ckpt} ${ssl_layer}"
  if [ -f "${out}" ] && [ "$(cat "${out}.opts" 2>/dev/null)" = "${made}" ]; then
    log "${out} exists (n_items ${n}); skipped"; continue
  fi
  log "Benchmark ${b}: ${n} items, modes ${modes} -> ${out}"
  # shellcheck disable=SC2086
  python3 -m lst.bin.make_benchmark --benchmark "${b}" --source ${src} --modes "${modes}" --n_items "${n}" \
    --seed "${seed}" --bpe_model "${bpe_model}" --km_dir "${km_dir}" --feature_type "${feature_type}" \
    --frame_rate_hz "${frame_rate_hz}" --work_dir "${work_root}/${work}_n${n}" --out "${out}" --nj "${nj}" \
    ${ssl_ckpt:+--ssl_ckpt "${ssl_ckpt}" --ssl_layer "${ssl_layer}"}
  echo "${made}" > "${out}.opts"
done
