#!/usr/bin/env bash
# Downstream TTS from a pretrained speech-text LM (token baseline and/or LST): fine-tune on
# text -> speech units, generate units (LST: one global step per patch), vocode them with a
# unit vocoder trained here, and score the audio with an independent recognizer (ESPnet's
# ASR baseline from the asr1 recipe). Called by egs/<corpus>/tts1/run.sh.
#
#   stages 0-4: pretrain + pack, data, units, t2s corpus, fine-tuning + pack (../asr1/scripts/downstream_stages.sh,
#               shared with asr.sh)                                 -> exp/tts_<m>/packed.zip
#   stage 5: unit vocoder (units -> log-mel net + Griffin-Lim)      -> exp/vocoder/vocoder.pth
#   stage 6: synthesis (lst.bin.tts_inference) + reference resynthesis -> exp/tts_<m>/decode_<set>/
#   stage 7: recognizer scoring (ESPnet ASR of --asr_exp): WER/CER   -> .../asr_score.json
#   stage 8: RESULTS.md (WER/CER, unit error rate, global steps / s of speech, decode time)
# Every stage can be re-run on its own (--stage N --stop_stage N); ./run.sh --help lists every option.
set -euo pipefail
. utils/lib.sh
scripts=$(dirname "$(readlink -f "$0")")/../asr1/scripts

opts_begin
. "${scripts}/downstream_opts.sh"
finetune_config=conf/finetune_tts.yaml  # fine-tuning config (merged with the package's model config)
# Generation
max_units_per_token=40 # unit budget per text token
max_units=1500         # most units generated per utterance
min_units=5            # fewest units before <sos/eos> is allowed
# Vocoder
vocoder_steps=400      # vocoder training steps
vocoder_args=""        # extra options of lst.bin.train_vocoder
griffin_lim_iters=32   # Griffin-Lim iterations
# Recognizer (an ESPnet ASR experiment dir with config.yaml; paths in it are relative to its recipe)
asr_exp=""             # ESPnet ASR experiment that scores the audio, e.g. ../asr1/exp/asr_espnet
asr_model=valid.acc.best.pth  # its checkpoint
asr_inference_args="--beam_size 4 --ctc_weight 0.3"  # options of ESPnet's asr_inference

help_message="Usage: $0 --pretrained_model \"a.zip b.zip\" --asr_exp ../asr1/exp/asr_espnet [options]"
parse_options "$@"
recipe_env
task=tts; ft_kind=t2s
. "${scripts}/downstream_stages.sh"

if run_stage 5; then
  stage_begin 5 "unit vocoder on ${train_set} (units of ${first_m}'s k-means) -> ${expdir}/vocoder"
  require "$(units_dir "${first_m}")/${train_set}/units" "stage 2 (units)"
  save_command "${expdir}/vocoder"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.train_vocoder --wav_scp "${dumpdir}/raw/${train_set}/wav.scp" \
    --units "$(units_dir "${first_m}")/${train_set}/units" --model "${pretrained_model%% *}" \
    --out_dir "${expdir}/vocoder" --steps "${vocoder_steps}" ${vocoder_args}
  stage_end 5
fi

if run_stage 6; then
  stage_begin 6 "synthesis of ${test_sets}: reference units and ${models}"
  require "${expdir}/vocoder/vocoder.pth" "stage 5 (vocoder)"
  for dset in ${test_sets}; do
    ${python} -m lst.bin.vocode_units --vocoder "${expdir}/vocoder/vocoder.pth" \
      --units "$(units_dir "${first_m}")/${dset}/units" --output_dir "${expdir}/tts_reference/decode_${dset}" \
      --griffin_lim_iters "${griffin_lim_iters}"
    for m in ${models}; do
      ft=$(ft_dir "${m}")
      require "${ft}/packed.zip" "stage 4 (fine-tuning)"
      # shellcheck disable=SC2086
      ${python} -m lst.bin.tts_inference --model "${ft}/packed.zip" --vocoder "${expdir}/vocoder/vocoder.pth" \
        --text "${dumpdir}/raw/${dset}/text" --output_dir "${ft}/decode_${dset}" --ref_units "$(units_dir "${m}")/${dset}/units" \
        --max_units_per_token "${max_units_per_token}" --max_units "${max_units}" --min_units "${min_units}" \
        --griffin_lim_iters "${griffin_lim_iters}" ${inference_args}
    done
  done
  stage_end 6
fi

if run_stage 7; then
  stage_begin 7 "recognize the synthesized ${test_sets} with ${asr_exp}"
  [ -n "${asr_exp}" ] || die "--asr_exp (an ESPnet ASR experiment, e.g. ../asr1/exp/asr_espnet) is required"
  require "${asr_exp}/${asr_model}" "the asr1 recipe's ESPnet stage"
  asr_root=$(cd "$(dirname "${asr_exp}")/.." && pwd)  # the recipe dir its config paths are relative to
  asr_abs=$(cd "${asr_exp}" && pwd)
  for dset in ${test_sets}; do
    for m in reference ${models}; do
      d=$(pwd)/${expdir}/tts_${m}/decode_${dset}
      require "${d}/wav.scp" "stage 6 (synthesis)"
      rm -rf "${d}/asr"
      # shellcheck disable=SC2086
      (cd "${asr_root}" && ${python} -m lst.bin.espnet_asr_inference --asr_train_config "${asr_abs}/config.yaml" \
        --asr_model_file "${asr_abs}/${asr_model}" --data_path_and_name_and_type "${d}/wav.scp,speech,sound" \
        --key_file "${d}/wav.scp" --output_dir "${d}/asr" --ngpu 0 --batch_size 1 --lm_weight 0 ${asr_inference_args})
      ${python} -m lst.bin.score_wer --ref "${dumpdir}/raw/${dset}/text" --hyp "${d}/asr/1best_recog/text" \
        --out "${d}/asr_score.json"
    done
  done
  stage_end 7
fi

if run_stage 8; then
  stage_begin 8 "RESULTS.md"
  ${python} -m lst.bin.downstream_results tts --expdir "${expdir}" --models "${models}" --sets "${test_sets}" \
    --out "${expdir}/RESULTS.md"
  stage_end 8
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
