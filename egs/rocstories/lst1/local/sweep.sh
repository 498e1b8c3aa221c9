#!/usr/bin/env bash
# The compute-controlled comparison of issue 17 (local/sweep.py does the work; resumable):
# sizes x {token baseline, LST static k=4, LST curriculum} under --controls "flops steps", plus
# the data-controlled baseline; every run one thread, --parallel 2 runs at a time; held-out NLL at
# every epoch checkpoint, the four benchmarks at the last; RESULTS.md / RESULTS.json / plots/.
#   local/sweep.sh --token_list T --corpus_dir D --stats_dir S          (./run.sh --stage 12 passes these)
#   local/sweep.sh ... --sizes "xs:32x1" --budget_epochs 0.05 --out_dir exp/sweep_toy \
#       --results_dir exp/sweep_toy            # a few-minute plumbing check
# GPU size: --ngpu 1 --parallel 1 --sizes "s:256x4,m:512x8,l:768x12" --budget_epochs 4 (README.md).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

token_list=""           # lst.sh's token list (./run.sh passes it)
corpus_dir=""           # lst.sh's corpus dir (<dir>/{train,valid,test}/seqs)
stats_dir=""            # lst.sh's collect-stats dir (stage 8) of that corpus file (docs: lst_stats_<tag>_docs)
train_corpus=seqs       # seqs: pre-built sequences; docs: the paper's on-the-fly draw (spoken documents,
                        # stream_mix paper: 1/3 interleaved, 2/3 text; + the text-only sequences)
silence_units_file=""   # <km_dir>/silence_units.json (needed by the class lst_silence)
sizes="s:128x2,m:256x4,l:384x6"   # name:d_modelxn_layers of the global transformer
classes="token_lm lst_static lst_curriculum"   # + lst_aligned, lst_silence where cheap
controls="flops steps"
data_controlled=true
data_reference=lst_curriculum
budget_epochs=2         # FLOP budget per size = this many epochs of that size's token baseline
flop_budget=""          # or an absolute budget (for the 256x4 size; scaled by d^2 x layers)
target_epochs=4         # checkpoints (points on the NLL curves) per run
benchmarks="data/bench/sc.jsonl data/bench/tsc.jsonl data/bench/blimp.jsonl data/bench/hellaswag.jsonl"
heldout=""              # default <corpus_dir>/test/seqs (held-out stories, held-out voice)
parallel=2
threads=1
ngpu=0
out_dir=""              # default exp/sweep_e<budget_epochs> (or _f<flop_budget>): a new budget never reuses old runs
results_dir=.           # RESULTS.md, RESULTS.json and plots/ go here
note=""                 # a paragraph for the top of RESULTS.md
report_only=false       # true: only write RESULTS.md / RESULTS.json / plots from the finished runs
. ./path.sh
. utils/parse_options.sh

[ -n "${heldout}" ] || heldout=${corpus_dir}/test/seqs
if [ -z "${out_dir}" ]; then
  if [ -n "${flop_budget}" ]; then out_dir=exp/sweep_f${flop_budget}; else out_dir=exp/sweep_e${budget_epochs}; fi
  [ "${train_corpus}" = seqs ] || out_dir+=_${train_corpus}
fi
case "${train_corpus}" in seqs|docs) ;; *) log "Error: --train_corpus seqs or docs, got ${train_corpus}"; exit 1 ;; esac
for f in "${token_list}" "${corpus_dir}/train/${train_corpus}" "${corpus_dir}/valid/${train_corpus}" "${heldout}" \
         "${stats_dir}/train/seq_shape"; do
  [ -e "${f}" ] || { log "Error: ${f} not found (stages 6-8 of ./run.sh; pass --token_list --corpus_dir --stats_dir)"; exit 1; }
done
bench=""
for b in ${benchmarks}; do
  if [ -f "${b}" ]; then bench+=" ${b}"; else log "Warning: ${b} not found (stage 11); not scored"; fi
done
opt=""
[ -n "${flop_budget}" ] && opt="--flop_budget ${flop_budget}"
log "Sweep: sizes ${sizes}; ${classes}; controls ${controls}; data-controlled ${data_controlled} -> ${out_dir}"
# shellcheck disable=SC2086
python3 local/sweep.py --token_list "${token_list}" --train "${corpus_dir}/train/${train_corpus}" \
  --valid "${corpus_dir}/valid/${train_corpus}" --train_corpus "${train_corpus}" --heldout "${heldout}" --stats_dir "${stats_dir}" --benchmarks ${bench} \
  --conf_dir conf --silence_units_file "${silence_units_file}" --sizes "${sizes}" --classes "${classes}" --controls "${controls}" \
  --data_controlled "${data_controlled}" --data_reference "${data_reference}" --budget_epochs "${budget_epochs}" \
  --target_epochs "${target_epochs}" --parallel "${parallel}" --threads "${threads}" --ngpu "${ngpu}" \
  --out_dir "${out_dir}" --results_md "${results_dir}/RESULTS.md" --results_json "${results_dir}/RESULTS.json" \
  --note "${note}" --report_only "${report_only}" ${opt}
log "Done: ${results_dir}/RESULTS.md"
