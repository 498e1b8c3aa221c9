#!/usr/bin/env bash
# Spoken-LM benchmarks by unit set (run.sh stage 10; issue 15: "MFCC vs HuBERT units, side by
# side on ... the story/BLiMP S->S benchmarks at one model size"). It drives the compute-controlled
# sweep of ../../rocstories/lst1 (spoken ROCStories, the four benchmarks in a held-out voice) once
# per HuBERT checkpoint of this recipe, with nothing changed but the units:
#   1. rocstories stages 3-8: that HuBERT's layer --ssl_layer at --frame_rate_hz over the spoken
#      stories, a k-means of --n_clusters fitted on them (the procedure of the MFCC units), units,
#      the MFCC run's BPE model (--bpe_from: the same text side), corpora, stats
#   2. rocstories stage 11: the benchmarks spoken in the held-out voice, unitized with these units
#      -> <rocstories>/data/bench_<unit_tag>/
#   3. rocstories local/sweep.sh: --sizes x --classes under --flop_budget (the MFCC sweep's)
#      -> <rocstories>/exp/sweep_f<budget>_<unit_tag>/
#   4. local/units_slm_results.py: accuracy per benchmark and unit set (token-normalised
#      log-likelihood, Wilson 95 % CI) and the paired difference to the MFCC sweep
#      (--reference_sweep, made by the rocstories recipe itself) -> <expdir>/units_slm/RESULTS.{md,json}
# Steps 1-2 leave a .done file per unit set, the sweep resumes, so a killed run is re-run as is.
#   local/units_slm.sh --unit_sets "it1=exp/hubert_it1_small_s3600/valid.loss.best.pth" --sizes "xs:64x2,s:128x2"
set -euo pipefail
# shellcheck disable=SC1091
. utils/lib.sh

opts_begin
python=python3         # the python that runs the lst tools
expdir=exp             # results go to <expdir>/units_slm
unit_sets=""           # NAME=CKPT ...: HuBERT checkpoints of this recipe (run.sh: one per iteration)
ssl_layer=4            # layer clustered (as the recipe's own units)
frame_rate_hz=25       # the rocstories recipe's unit rate
n_clusters=100         # its codebook size
nbpe=2000              # its BPE size; the MFCC run's model is copied (--bpe_from)
rocstories_dir=../../rocstories/lst1   # the spoken-story recipe (its stages 1-2 and MFCC sweep done)
reference=mfcc_25hz_km100              # name of the MFCC units in the tables
reference_sweep=exp/sweep_f4e13        # the MFCC sweep (relative to --rocstories_dir), made by its README's commands
flop_budget=4e13       # the MFCC sweep's --flop_budget (for its 256x4 size; scaled to the others)
target_epochs=4        # the MFCC sweep's --target_epochs
sizes="xs:64x2,s:128x2"                # sweep sizes (name:d_modelxn_layers), a subset of the MFCC sweep's
classes="token_lm lst_static lst_curriculum"
modes="S->S"           # benchmark modes reported (e.g. "S->S T->T")
help_message="Usage: $0 --unit_sets \"NAME=CKPT ...\" [--sizes xs:64x2,s:128x2] [--classes \"token_lm lst_static\"] [options]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

[ -n "${unit_sets}" ] || die "--unit_sets is empty (NAME=CKPT of a HuBERT of this recipe's stage 4)"
rs=${rocstories_dir}
require "${rs}/dump/raw/train/wav.scp" "stages 1-2 of ${rs}/run.sh (the spoken stories)"
ref_bpe=${rs}/data/token_list/bpe${nbpe}_km${n_clusters}/bpe.model
require "${ref_bpe}" "stage 6 of ${rs}/run.sh (the MFCC run's BPE model)"
[ -d "${rs}/${reference_sweep}" ] || die "${rs}/${reference_sweep} not found: the MFCC sweep (${rs}/README.md, 'The CPU sweep that ran')"
out=${expdir}/units_slm
mkdir -p "${out}"
size_names=$(echo "${sizes}" | tr ',' '\n' | cut -d: -f1 | tr '\n' ' ')
runs=("${reference}=$(cd "${rs}" && pwd)/${reference_sweep}")
for spec in ${unit_sets}; do
  name=${spec%%=*}; ckpt=${spec#*=}
  [ "${name}" != "${spec}" ] && [ -n "${name}" ] || die "--unit_sets wants NAME=CKPT, got ${spec}"
  require "${ckpt}" "stage 4 (HuBERT training) for unit set ${name}"
  ckpt=$(cd "$(dirname "${ckpt}")" && pwd)/$(basename "${ckpt}")
  opts=(--feature_type espnet_ssl --ssl_ckpt "${ckpt}" --ssl_layer "${ssl_layer}" --frame_rate_hz "${frame_rate_hz}"
        --n_clusters "${n_clusters}" --nbpe "${nbpe}")
  eval "$(cd "${rs}" && ./lst.sh "${opts[@]}" --print_paths true | grep -E '^(unit_tag|token_list|corpus_dir|stats_dir|km_dir)=')"
  log "${name}: ${ckpt} layer ${ssl_layer} -> ${rs} units ${unit_tag}"
  if [ ! -f "${out}/${name}.units.done" ]; then
    (cd "${rs}" && ./run.sh --stage 3 --stop_stage 8 "${opts[@]}" --bpe_from "data/token_list/bpe${nbpe}_km${n_clusters}/bpe.model") \
      > "${out}/${name}.units.log" 2>&1 || die "${name}: rocstories stages 3-8 failed; see ${out}/${name}.units.log"
    touch "${out}/${name}.units.done"
  fi
  bench=data/bench_${unit_tag}
  if [ ! -f "${out}/${name}.bench.done" ]; then
    (cd "${rs}" && ./run.sh --stage 11 --stop_stage 11 "${opts[@]}" --plot_dir "exp/plots_${unit_tag}" \
      --bench_opts "--out_dir ${bench} --work_root dump/bench_${unit_tag}") \
      > "${out}/${name}.bench.log" 2>&1 || die "${name}: rocstories stage 11 (benchmarks) failed; see ${out}/${name}.bench.log"
    touch "${out}/${name}.bench.done"
  fi
  sweep=exp/sweep_f${flop_budget}_${unit_tag}
  log "${name}: sweep ${sizes} x ${classes} -> ${rs}/${sweep} (log ${out}/${name}.sweep.log)"
  (cd "${rs}" && local/sweep.sh --token_list "${token_list}" --corpus_dir "${corpus_dir}" --stats_dir "${stats_dir}" \
    --silence_units_file "${km_dir}/silence_units.json" --flop_budget "${flop_budget}" --target_epochs "${target_epochs}" \
    --sizes "${sizes}" --classes "${classes}" --controls flops --data_controlled false \
    --benchmarks "${bench}/sc.jsonl ${bench}/tsc.jsonl ${bench}/blimp.jsonl ${bench}/hellaswag.jsonl" \
    --out_dir "${sweep}" --results_dir "${sweep}") > "${out}/${name}.sweep.log" 2>&1 \
    || die "${name}: the sweep failed; see ${out}/${name}.sweep.log"
  runs+=("${name}=$(cd "${rs}" && pwd)/${sweep}")
done
# shellcheck disable=SC2086
${python} local/units_slm_results.py --runs "${runs[@]}" --reference "${reference}" --sizes ${size_names} \
  --classes ${classes} --modes ${modes} --out_md "${out}/RESULTS.md" --out_json "${out}/RESULTS.json"
log "Done: ${out}/RESULTS.md"
