#!/usr/bin/env bash
# Word aligners compared (RESULTS.md): the character-CTC aligner (lst.bin.ctc_align, trained on
# synthetic speech) and pocketsphinx (lst.bin.ps_align, its en-us model, no training).
#   stage 1: train the CTC aligner on the spoken-story corpus (${synth_dir}/train, training
#            voices; offsets calibrated on ${synth_dir}/valid)              -> exp/ctc_align
#   stage 2: boundary error against exact espeak-ng word timings of held-out-voice speech
#            (--ref_sets: data dirs with word_ctm)                          -> exp/align_eval/<name>.json
#   stage 3: AN4 dev/test (real speech): agreement of the aligners (+ ESPnet's CTC segmentation
#            with ../asr1's AN4 ASR model when --espnet_asr_exp exists), an energy check, spot
#            checks                                                         -> exp/align_eval/an4_<set>.json
#   stage 4: all rows                                                       -> exp/align_eval/RESULTS.json
# Needs lst.sh stage 2 of this recipe (dump/raw/{dev,test}), stage 2 of ../../rocstories/lst1
# (the story corpus) and local/data.sh stage 3 of ../ssl1 (synth_eval).
set -euo pipefail
. utils/lib.sh

opts_begin
stage=1
stop_stage=4
synth_dir=../../rocstories/lst1/dump/raw   # spoken-story corpus: train/valid (training voices), test (held-out voice)
ref_sets="heldout_rocstories_test=../../rocstories/lst1/dump/raw/test heldout_lj_synth_eval=../ssl1/dump/raw/synth_eval"
ref_max_utts=100       # utterances of each reference set aligned by pocketsphinx (a random subset)
an4_sets="test dev"
spot="fcaw-an406-b,mmxg-cen5-b,marh-an431-b"  # AN4 test utterances listed word by word
ctc_minutes=8          # CTC aligner training budget
espnet_asr_exp=../asr1/exp/asr_espnet_transformer_cpu_bpe30_sp  # ESPnet ASR model for a third aligner (skipped if absent)
out=exp/align_eval
parse_options "$@"
recipe_env
mkdir -p "${out}"
cmp_py() { PYTHONPATH=${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}} python3 local/compare_aligners.py "$@"; }

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "stage 1: CTC aligner on ${synth_dir}/train (${ctc_minutes} min budget) -> exp/ctc_align"
  require "${synth_dir}/train/word_ctm" "stage 2 of ../../rocstories/lst1 (the spoken-story corpus)"
  python3 -m lst.bin.ctc_align train --data_dir "${synth_dir}/train" --valid_dir "${synth_dir}/valid" \
    --out_dir exp/ctc_align --max_minutes "${ctc_minutes}" --max_utts 300 --threads 1 \
    --calib_dir "${synth_dir}/valid" --calib_utts 40 > exp/ctc_align.log 2>&1 \
    || die "CTC aligner training failed; see exp/ctc_align.log"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  for spec in ${ref_sets}; do
    name=${spec%%=*}; dir=${spec#*=}
    require "${dir}/word_ctm" "the synthetic corpus of ${dir} (true word timings)"
    log "stage 2: ${name}: pocketsphinx (${ref_max_utts} utterances) and CTC vs true timings"
    python3 -m lst.bin.ps_align score --data_dir "${dir}" --ref_ctm "${dir}/word_ctm" --max_utts "${ref_max_utts}" \
      --out_json "${out}/${name}_pocketsphinx.json" --out_word_ctm "${out}/${name}_pocketsphinx.word_ctm" \
      2> "${out}/${name}_pocketsphinx.log" | grep '^ps_align'
    python3 -m lst.bin.ctc_align align --model_dir exp/ctc_align --data_dir "${dir}" \
      --out "${out}/${name}_ctc.word_ctm" 2> "${out}/${name}_ctc.log"
    cmp_py --ref "${dir}/word_ctm" --hyp ctc="${out}/${name}_ctc.word_ctm" \
      --hyp pocketsphinx="${out}/${name}_pocketsphinx.word_ctm" --set "${name}" --out_json "${out}/${name}.json"
  done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  for dset in ${an4_sets}; do
    require "dump/raw/${dset}/wav.scp" "stage 2 of ./run.sh"
    log "stage 3: AN4 ${dset}: the aligners, agreement, energy check"
    python3 -m lst.bin.ps_align --data_dir "dump/raw/${dset}" --out_word_ctm "${out}/an4_${dset}_pocketsphinx.word_ctm" \
      --out_phone_ctm "${out}/an4_${dset}_pocketsphinx.phone_ctm" 2> "${out}/an4_${dset}_pocketsphinx.log"
    python3 -m lst.bin.ctc_align align --model_dir exp/ctc_align --data_dir "dump/raw/${dset}" \
      --out "${out}/an4_${dset}_ctc.word_ctm" 2> "${out}/an4_${dset}_ctc.log"
    hyp3=()
    if [ -f "${espnet_asr_exp}/config.yaml" ]; then
      PYTHONPATH=${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}} python3 local/espnet_align.py --asr_exp "${espnet_asr_exp}" \
        --data_dir "dump/raw/${dset}" --out "${out}/an4_${dset}_espnet.word_ctm" 2> "${out}/an4_${dset}_espnet.log"
      hyp3=(--hyp espnet_ctcseg="${out}/an4_${dset}_espnet.word_ctm")
    fi
    spot_opt=()
    [ "${dset}" != test ] || spot_opt=(--spot "${spot}")
    cmp_py --hyp pocketsphinx="${out}/an4_${dset}_pocketsphinx.word_ctm" --hyp ctc="${out}/an4_${dset}_ctc.word_ctm" \
      "${hyp3[@]+"${hyp3[@]}"}" \
      --set "an4_${dset}" --wav_scp "dump/raw/${dset}/wav.scp" "${spot_opt[@]+"${spot_opt[@]}"}" --out_json "${out}/an4_${dset}.json"
  done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  python3 - "${out}" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows, spots = [], {}
for f in sorted(out.glob("*.json")):
    if f.name == "RESULTS.json" or f.name.endswith("_pocketsphinx.json"):
        continue
    d = json.loads(f.read_text())
    rows += d["rows"]
    spots.update(d["spot_checks"])
(out / "RESULTS.json").write_text(json.dumps({"rows": rows, "spot_checks": spots}, indent=1) + "\n")
print(f"{out}/RESULTS.json: {len(rows)} rows, {len(spots)} spot checks")
EOF
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
