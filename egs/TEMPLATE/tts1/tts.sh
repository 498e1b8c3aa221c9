#!/usr/bin/env bash
# Downstream TTS from a pretrained speech-text LM (token baseline and/or LST): fine-tune on
# text -> speech units, generate units (LST: one global step per patch), vocode them with a
# unit vocoder trained here, and score the audio with an independent recognizer (pocketsphinx,
# lst.bin.recognize) and, when --asr_exp is given, also with the ESPnet ASR baseline of the
# asr1 recipe. Called by egs/<corpus>/tts1/run.sh.
#
#   stages 0-4: pretrain + pack, data, units, t2s corpus, fine-tuning + pack (../asr1/scripts/downstream_stages.sh,
#               shared with asr.sh)                                 -> exp/tts_<m>/packed.zip
#   stage 5: unit vocoder (units -> log-mel net + Griffin-Lim)      -> exp/vocoder/vocoder.pth
#   stage 6: synthesis (lst.bin.tts_inference) + reference resynthesis -> exp/tts_<m>/decode_<set>/
#   stage 7: independent recognizer (pocketsphinx) on the test sets' own audio (--score_original),
#            the reference resynthesis and each system: WER/CER      -> exp/tts_<sys>/decode_<set>/pocketsphinx/
#   stage 8: ESPnet ASR of --asr_exp on the same audio (skipped, with a log line, without --asr_exp)
#                                                                  -> exp/tts_<sys>/decode_<set>/asr_score.json
#   stage 9: RESULTS.md + RESULTS.json (WER/CER of both recognizers, unit error rate, global steps
#            / s of speech, decode time)                            -> exp/RESULTS.{md,json}
# <sys> is original (the test set's audio), reference (reference units + vocoder) or a model.
# WER/CER: jiwer after one text normaliser (lst.downstream.recognizer.normalize_text) for both
# recognizers. Every stage can be re-run on its own (--stage N --stop_stage N); stage 7 keeps
# the scores whose audio, reference and options are unchanged. ./run.sh --help lists every option.
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
vocoder_floor_only=false  # true: no fine-tuning or TTS decoding (stages 3-4 skipped); stages 6-9 cover only the original audio and the reference resynthesis
# Independent recognizer (stage 7)
score_original=true    # also score the test sets' own audio (dump/raw/<set>/wav.scp): the recordings' row
recognize_args=""      # extra options of lst.bin.recognize, e.g. "--lm my.lm --dict my.dic"
# Second recognizer (stage 8; an ESPnet ASR experiment dir with config.yaml; paths in it are relative to its recipe)
asr_exp=""             # ESPnet ASR experiment that also scores the audio, e.g. ../asr1/exp/asr_espnet; empty: stage 8 skipped
asr_model=valid.acc.best.pth  # its checkpoint
asr_inference_args="--beam_size 4 --ctc_weight 0.3"  # options of ESPnet's asr_inference

help_message="Usage: $0 --pretrained_model \"a.zip b.zip\" [--asr_exp ../asr1/exp/asr_espnet] [options]"
parse_options "$@"
recipe_env
task=tts; ft_kind=t2s
[ "${vocoder_floor_only}" = true ] && skip_stages+=" 3 4"
. "${scripts}/downstream_stages.sh"
# the TTS systems that are decoded and scored (none for the vocoder floor alone)
tts_models=${models}
[ "${vocoder_floor_only}" = true ] && tts_models=""
# the systems scored on each test set: the set's own audio, the reference resynthesis, each TTS model
scored_systems() { if [ "${score_original}" = true ]; then echo original reference ${tts_models}; else echo reference ${tts_models}; fi; }
# the wav.scp of system $1 on set $2
system_wav_scp() {
  if [ "$1" = original ]; then echo "${dumpdir}/raw/$2/wav.scp"; else echo "${expdir}/tts_$1/decode_$2/wav.scp"; fi
}

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
  stage_begin 6 "synthesis of ${test_sets}: reference units${tts_models:+ and ${tts_models}}"
  require "${expdir}/vocoder/vocoder.pth" "stage 5 (vocoder)"
  for dset in ${test_sets}; do
    ${python} -m lst.bin.vocode_units --vocoder "${expdir}/vocoder/vocoder.pth" \
      --units "$(units_dir "${first_m}")/${dset}/units" --output_dir "${expdir}/tts_reference/decode_${dset}" \
      --griffin_lim_iters "${griffin_lim_iters}"
    for m in ${tts_models}; do
      ft=$(ft_dir "${m}")
      require "${ft}/packed.zip" "stage 4 (fine-tuning)"
      require "$(model_text "${m}" "${dset}")" "stage 3 (the transcripts as the model reads them)"
      # shellcheck disable=SC2086
      ${python} -m lst.bin.tts_inference --model "${ft}/packed.zip" --vocoder "${expdir}/vocoder/vocoder.pth" \
        --text "$(model_text "${m}" "${dset}")" --output_dir "${ft}/decode_${dset}" --ref_units "$(units_dir "${m}")/${dset}/units" \
        --max_units_per_token "${max_units_per_token}" --max_units "${max_units}" --min_units "${min_units}" \
        --griffin_lim_iters "${griffin_lim_iters}" ${inference_args}
    done
  done
  stage_end 6
fi

if run_stage 7; then
  stage_begin 7 "independent recognizer (pocketsphinx) on ${test_sets}: $(scored_systems)"
  for dset in ${test_sets}; do
    require "${dumpdir}/raw/${dset}/text" "stage 1 (data)"
    for sys in $(scored_systems); do
      wav_scp=$(system_wav_scp "${sys}" "${dset}")
      require "${wav_scp}" "$([ "${sys}" = original ] && echo "stage 1 (data)" || echo "stage 6 (synthesis)")"
      # shellcheck disable=SC2086
      ${python} -m lst.bin.recognize --wav_scp "${wav_scp}" --ref_text "${dumpdir}/raw/${dset}/text" \
        --output_dir "${expdir}/tts_${sys}/decode_${dset}/pocketsphinx" --resume true ${recognize_args}
    done
  done
  stage_end 7
fi

if run_stage 8; then
  if [ -z "${asr_exp}" ]; then
    log "Stage 8 skipped: no --asr_exp (an ESPnet ASR experiment, e.g. ../asr1/exp/asr_espnet); the table has the pocketsphinx columns only"
  else
    stage_begin 8 "ESPnet ASR ${asr_exp} on ${test_sets}: $(scored_systems)"
    require "${asr_exp}/${asr_model}" "the asr1 recipe's ESPnet stage"
    asr_root=$(cd "$(dirname "${asr_exp}")/.." && pwd)  # the recipe dir its config paths are relative to
    asr_abs=$(cd "${asr_exp}" && pwd)
    for dset in ${test_sets}; do
      for sys in $(scored_systems); do
        wav_scp=$(system_wav_scp "${sys}" "${dset}")
        require "${wav_scp}" "$([ "${sys}" = original ] && echo "stage 1 (data)" || echo "stage 6 (synthesis)")"
        wav_scp=$(readlink -f "${wav_scp}")  # absolute: ESPnet runs in its own recipe dir
        d=$(readlink -m "${expdir}/tts_${sys}/decode_${dset}")
        rm -rf "${d}/asr"
        mkdir -p "${d}"
        # shellcheck disable=SC2086
        (cd "${asr_root}" && ${python} -m lst.bin.espnet_asr_inference --asr_train_config "${asr_abs}/config.yaml" \
          --asr_model_file "${asr_abs}/${asr_model}" --data_path_and_name_and_type "${wav_scp},speech,sound" \
          --key_file "${wav_scp}" --output_dir "${d}/asr" --ngpu 0 --batch_size 1 --lm_weight 0 ${asr_inference_args})
        ${python} -m lst.bin.score_wer --ref "${dumpdir}/raw/${dset}/text" --hyp "${d}/asr/1best_recog/text" \
          --out "${d}/asr_score.json" --normalizer recognizer
      done
    done
    stage_end 8
  fi
fi

if run_stage 9; then
  stage_begin 9 "RESULTS.md, RESULTS.json -> ${expdir}"
  ${python} -m lst.bin.downstream_results tts --expdir "${expdir}" --models "${tts_models}" --sets "${test_sets}" \
    --out "${expdir}/RESULTS.md"
  stage_end 9
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
