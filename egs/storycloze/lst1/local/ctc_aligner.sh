#!/usr/bin/env bash
# Train the character-CTC word aligner on the spoken-story corpus (true timings known), then
# report its word-boundary error on the held-out stories/voice. Run after lst.sh stage 2
# (needs dump/raw/{train,valid,test}). The model in exp/ctc_align then writes word_ctm for
# recorded corpora, e.g. mini_an4:
#   python -m lst.bin.ctc_align align --model_dir <this recipe>/exp/ctc_align \
#       --data_dir dump/raw/train --out dump/raw/train/word_ctm
set -euo pipefail
. utils/lib.sh

opts_begin
dumpdir=dump
out_dir=exp/ctc_align
max_minutes=5      # training time budget (CPU)
max_utts=300       # stories used for training (cut into sentences)
score_set=test     # held-out stories in the held-out voice
parse_options "$@"
recipe_env

for d in train valid "${score_set}"; do
  require "${dumpdir}/raw/${d}/wav.scp" "stage 2 (audio format) of ./run.sh"
done
save_command "${out_dir}"
log "Training the CTC aligner (${max_minutes} min budget) -> ${out_dir}"
python3 -m lst.bin.ctc_align train --data_dir "${dumpdir}/raw/train" --valid_dir "${dumpdir}/raw/valid" \
  --out_dir "${out_dir}" --max_minutes "${max_minutes}" --max_utts "${max_utts}" \
  --calib_dir "${dumpdir}/raw/train" --calib_utts 40
log "Word-boundary error on ${score_set} (true timings from espeak-ng):"
python3 -m lst.bin.ctc_align score --model_dir "${out_dir}" --data_dir "${dumpdir}/raw/${score_set}" | tee "${out_dir}/score_${score_set}.txt"
