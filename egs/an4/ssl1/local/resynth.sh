#!/usr/bin/env bash
# Resynthesis intelligibility of each unit set of this recipe (run.sh stage 9; issue 15: "MFCC
# vs HuBERT units, side by side on ... resynthesis intelligibility (unit vocoder + the
# independent recognizer)").
#
#   data (once): the LJ Speech split of egs/ljspeech/tts1 (same rule, local/resynth_data.py
#            split: clips in id order, the last --ntest test, the --nvalid before them valid,
#            the rest train; 325 / 20 / 40 on the shared subset), with this recipe's 16 kHz
#            audio of those clips (dump/raw/{train,valid}: HuBERT's sets hold all LJ clips)
#            -> data/resynth_lj/{train,test}/{wav.scp,text} (text upper case, as tts1's)
#   original: the recordings of the test clips scored once by the independent recognizer
#            (lst.bin.recognize, pocketsphinx en-us) -> exp/resynth/original/pocketsphinx/score.json
#   per unit set in --unit_sets: the units of the train/test clips (dump/resynth/<units>/<split>),
#            the unit vocoder (lst.bin.train_vocoder: units -> log-mel net + Griffin-Lim) trained
#            on the train clips with the same options for every unit set (--vocoder_steps, ...)
#            -> exp/resynth/<units>/vocoder/, the test clips resynthesized from their units
#            (lst.bin.vocode_units) -> exp/resynth/<units>/resynth_test/, and scored
#            -> exp/resynth/<units>/pocketsphinx/score.json
#   table: exp/resynth/RESULTS.json + RESULTS_table.md (--merge_into FILE: the resynth_* columns
#            into the rows of that RESULTS.json)
# Resumable: a finished vocoder / resynthesis (their .done marker records the settings and
# inputs) and a finished score (lst.bin.recognize --resume) are kept; --skip_done false redoes
# the vocoder and the resynthesis.
# Note: the HuBERT model and both k-means were trained (unsupervised) on every LJ clip, test
# clips included; only the vocoder keeps the tts1 split.
set -euo pipefail
# shellcheck disable=SC1091
. utils/lib.sh

opts_begin
stage=9                # first stage to run (9)
stop_stage=9           # last stage to run
python=python3         # the python that runs the lst tools
dumpdir=dump           # where the unit dumps of stages 3/5 are (dump/units/<units>/<set>)
expdir=exp             # experiments
unit_sets="it0_mfcc_km100 it1_l4_km100"  # unit sets compared (dump/units/<name>), same unit rate
unit_src_sets="train valid"  # the sets of each unit set that hold the LJ clips (HuBERT's train + valid)
lj_dir=""              # LJSpeech-1.1 (metadata.csv, wavs/) that defines the split (default: db.sh's LJSPEECH)
lj_prefix="lj-"        # this recipe's prefix of the LJ Speech ids
nvalid=20              # tts1's split: valid clips (before the test clips; not used here)
ntest=40               # tts1's split: test clips (the last ones in id order)
max_utts=0             # >0: the first N LJ clips only (toy runs; the split then scales)
vocoder_steps=1000     # vocoder training steps (16-utterance batches), the same for every unit set
vocoder_lr=2e-3        # vocoder learning rate
vocoder_d=128          # vocoder width
vocoder_layers=4       # vocoder conv blocks
vocoder_seed=0         # vocoder seed
vocoder_frames_per_unit=""  # mel frames per unit ("": lst.bin.train_vocoder's default, a 10 ms mel hop; 1: the unit hop, as measured first)
griffin_lim_iters=32   # Griffin-Lim iterations of the resynthesis (tts1: 32)
merge_into=""          # a RESULTS.json whose rows (keyed by units) get the resynth_* columns ("": none)
skip_done=true         # keep a finished vocoder / resynthesis; false: redo them

help_message="Usage: $0 [--stage 9] [--unit_sets \"a b\"] [--vocoder_steps 1000] [options]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh
if [ -z "${lj_dir}" ]; then
  # shellcheck disable=SC1091
  . ./db.sh
  lj_dir=${LJSPEECH}
fi

data=data/resynth_lj
out=${expdir}/resynth
ref=${data}/test/text

# fingerprint FILE...: one md5 over the files' contents (what a .done marker records)
fingerprint() { cat "$@" | md5sum | cut -d' ' -f1; }
# score_of SCORE_JSON: "WER x CER y (n clips)"
score_of() { ${python} -c 'import json, sys; s = json.load(open(sys.argv[1])); print("WER %.2f CER %.2f (%d clips)" % (s["wer"], s["cer"], s["n_utts"]))' "$1"; }
# kept DIR SETTINGS: is DIR finished with these settings (its .done holds them)?
kept() { [ "${skip_done}" = true ] && [ -f "$1/.done" ] && [ "$(cat "$1/.done")" = "$2" ]; }
# wall STEP SECONDS RUN_DIR: record a step's wall time (the last run of a step counts)
wall() { { grep -v "^$1 " "$3/wall_seconds" 2>/dev/null || true; echo "$1 $2"; } > "$3/wall_seconds.tmp"; mv "$3/wall_seconds.tmp" "$3/wall_seconds"; }

if run_stage 9; then
  stage_begin 9 "resynthesis intelligibility of ${unit_sets}: vocoders on LJ train (${vocoder_steps} steps), pocketsphinx on LJ test"
  src_wavs=(); for s in ${unit_src_sets}; do require "${dumpdir}/raw/${s}/wav.scp" "stage 2 (audio format)"; src_wavs+=("${dumpdir}/raw/${s}/wav.scp"); done
  log "data: tts1's LJ split of ${lj_dir} -> ${data}/{train,test}: $(${python} local/resynth_data.py split \
    --lj_dir "${lj_dir}" --wav_scp "${src_wavs[@]}" --out_dir "${data}" --nvalid "${nvalid}" --ntest "${ntest}" \
    --max_utts "${max_utts}" --id_prefix "${lj_prefix}")"

  infos=()
  for units in ${unit_sets}; do
    for s in ${unit_src_sets}; do require "${dumpdir}/units/${units}/${s}/units" "stage 3 or 5 (units ${units})"; done
    infos+=("${dumpdir}/units/${units}/${unit_src_sets%% *}/unit_info.json")
  done
  params=$(${python} local/resynth_data.py unit_params --unit_info "${infos[@]}") || die "unit sets of different rates (above)"

  i=0
  runs=()
  for units in ${unit_sets}; do
    i=$(( i + 1 ))
    read -r rate n_units <<< "$(sed -n "${i}p" <<< "${params}")"
    run=${out}/${units}
    runs+=("${units},${run}")
    mkdir -p "${run}"
    for split in train test; do
      src_dirs=(); for s in ${unit_src_sets}; do src_dirs+=("${dumpdir}/units/${units}/${s}"); done
      ${python} local/resynth_data.py units --ids "${data}/${split}/text" --units_dirs "${src_dirs[@]}" \
        --out_dir "${dumpdir}/resynth/${units}/${split}" > /dev/null
    done
    tr_units=${dumpdir}/resynth/${units}/train/units
    te_units=${dumpdir}/resynth/${units}/test/units
    printf '{"unit_rate_hz": %s, "n_units": %s, "griffin_lim_iters": %s, "vocoder_lr": %s, "vocoder_d": %s, "vocoder_layers": %s, "vocoder_seed": %s, "vocoder_frames_per_unit": "%s", "train_clips": %s, "test_clips": %s}\n' \
      "${rate}" "${n_units}" "${griffin_lim_iters}" "${vocoder_lr}" "${vocoder_d}" "${vocoder_layers}" "${vocoder_seed}" \
      "${vocoder_frames_per_unit:-default}" "$(grep -c . "${tr_units}")" "$(grep -c . "${te_units}")" > "${run}/settings.json"

    # vocoder
    voc=${run}/vocoder
    voc_key="steps=${vocoder_steps} lr=${vocoder_lr} d=${vocoder_d} layers=${vocoder_layers} seed=${vocoder_seed} fpu=${vocoder_frames_per_unit:-default} rate=${rate} n_units=${n_units} data=$(fingerprint "${tr_units}" "${data}/train/wav.scp")"
    if kept "${voc}" "${voc_key}" && [ -f "${voc}/vocoder.pth" ] && [ -f "${voc}/train_info.json" ]; then
      log "${units}: ${voc} finished: kept (--skip_done false trains again)"
    else
      rm -f "${voc}/.done"
      save_command "${voc}"
      log "${units}: training the vocoder (${vocoder_steps} steps, ${rate} Hz, ${n_units} units, $(grep -c . "${tr_units}") clips; log: ${voc}/train.log)"
      t0=$(date +%s)
      ${python} -m lst.bin.train_vocoder --wav_scp "${data}/train/wav.scp" --units "${tr_units}" \
        --n_units "${n_units}" --unit_rate_hz "${rate}" --steps "${vocoder_steps}" --lr "${vocoder_lr}" \
        --d "${vocoder_d}" --n_layers "${vocoder_layers}" --seed "${vocoder_seed}" --out_dir "${voc}" \
        ${vocoder_frames_per_unit:+--frames_per_unit "${vocoder_frames_per_unit}"} \
        > "${voc}/train.log" 2>&1 || { tail -5 "${voc}/train.log"; die "vocoder training failed; see ${voc}/train.log"; }
      wall vocoder $(( $(date +%s) - t0 )) "${run}"
      echo "${voc_key}" > "${voc}/.done"
    fi

    # resynthesis of the test clips
    syn=${run}/resynth_test
    syn_key="vocoder=$(fingerprint "${voc}/vocoder.pth") units=$(fingerprint "${te_units}") griffin_lim_iters=${griffin_lim_iters}"
    if kept "${syn}" "${syn_key}" && [ -f "${syn}/wav.scp" ]; then
      log "${units}: ${syn} finished: kept"
    else
      rm -f "${syn}/.done"
      mkdir -p "${syn}"
      t0=$(date +%s)
      ${python} -m lst.bin.vocode_units --vocoder "${voc}/vocoder.pth" --units "${te_units}" \
        --griffin_lim_iters "${griffin_lim_iters}" --output_dir "${syn}" > "${run}/vocode.log" 2>&1 \
        || die "resynthesis failed; see ${run}/vocode.log"
      wall resynth $(( $(date +%s) - t0 )) "${run}"
      echo "${syn_key}" > "${syn}/.done"
    fi

    # the independent recognizer
    t0=$(date +%s)
    ${python} -m lst.bin.recognize --wav_scp "${syn}/wav.scp" --ref_text "${ref}" --resume true \
      --output_dir "${run}/pocketsphinx" > "${run}/recognize.log" 2>&1 \
      || die "recognizing the resynthesis failed; see ${run}/recognize.log"
    grep -q "up to date" "${run}/recognize.log" || wall recognize $(( $(date +%s) - t0 )) "${run}"
    log "${units}: resynthesis $(score_of "${run}/pocketsphinx/score.json") (${run}/pocketsphinx/score.json)"
  done

  # the recordings of the same test clips, scored once (kept while audio and text are the same)
  mkdir -p "${out}/original"
  t0=$(date +%s)
  ${python} -m lst.bin.recognize --wav_scp "${data}/test/wav.scp" --ref_text "${ref}" --resume true \
    --output_dir "${out}/original/pocketsphinx" > "${out}/original/recognize.log" 2>&1 \
    || die "recognizing the original recordings failed; see ${out}/original/recognize.log"
  log "original recordings: $(score_of "${out}/original/pocketsphinx/score.json") (${out}/original/pocketsphinx/score.json, $(( $(date +%s) - t0 )) s)"

  merge=(); [ -n "${merge_into}" ] && merge=(--merge_into "${merge_into}")
  ${python} local/resynth_results.py --runs "${runs[@]}" --original "${out}/original/pocketsphinx/score.json" \
    --eval_set "LJ Speech tts1 test split ($(grep -c . "${ref}") clips, $(head -1 "${ref}" | cut -d' ' -f1)..$(tail -1 "${ref}" | cut -d' ' -f1))" \
    --out_json "${out}/RESULTS.json" --out_md "${out}/RESULTS_table.md" ${merge[@]+"${merge[@]}"}
  cat "${out}/RESULTS_table.md"
  stage_end 9
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
