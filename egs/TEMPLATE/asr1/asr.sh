#!/usr/bin/env bash
# Downstream ASR from a pretrained speech-text LM (token baseline and/or LST), side by side
# with ESPnet's own ASR, in the style of ESPnet's egs2/TEMPLATE/asr1/asr.sh. Called by
# egs/<corpus>/asr1/run.sh.
#
#   stages 0-4: pretrain + pack, data, units, s2t corpus, fine-tuning + pack (scripts/downstream_stages.sh,
#               shared with tts.sh)                               -> exp/asr_<m>/packed.zip
#   stage 5: decode greedy + beam (lst.bin.asr_inference; --decode_modes, + ctc/joint for a CTC head), WER
#                                                                 -> exp/asr_<m>/decode_<set>_<mode>/, RESULTS.md
#   stage 6: ESPnet ASR baseline: collect stats + train (fbank, CTC/attention) -> exp/asr_espnet
#   stage 7: ESPnet decode (espnet2.bin.asr_inference) + WER      -> exp/asr_espnet/decode_<set>/
#   stage 8: comparison table (WER, params, training time, RTF)   -> exp/RESULTS.md
#   stage 9: WER vs fine-tuning updates (--curve_sets): greedy (--curve_decode ctc: CTC) decode of the
#            pretrained backbone and of every kept <N>epoch.pth from the stage-2 units, the updates each model needs to reach
#            a fixed WER (lst.bin.asr_curve) -> exp/asr_<m>/curve/decode_<set>_ep<N>/, exp/asr_curve/
#            (resumable: a decode newer than its checkpoint is kept)
#   stage 10: (--pick_decode_modes) decode valid + test with the checkpoint of the lowest stage-9 WER on the
#            validation set (ESPnet picks by validation loss, which turns long before a CTC head stops improving)
#                                                                 -> exp/asr_<m>/picked_checkpoint.json, decode_<set>_<mode>_ep<N>/
#            (--pick_ctc_weights "0.3 0.5 0.7": the joint CTC weight is picked on the validation set first
#            -> exp/asr_<m>/ctc_weight/, picked_ctc_weight[_ave<N>].json; with --pick_length_bonuses "0 0.5 1":
#            the grid of weights x ESPnet's length bonus, --pick_length_norm 0 for ESPnet's raw scores;
#            --pick_pre_beam ctc: the joint searches' candidates from the CTC prefix scores -> ..._pbctc_<tag>/)
#            (--pick_average N: the average of the N best epochs on the validation set instead, as ESPnet decodes
#            valid.acc.ave_10best.pth -> exp/asr_<m>/ave<N>best.{pth,json}, decode_<set>_<mode>_ave<N>/)
# Every stage can be re-run on its own (--stage N --stop_stage N); ./run.sh --help lists every option.
set -euo pipefail
. utils/lib.sh
scripts=$(dirname "$(readlink -f "$0")")/scripts

opts_begin
. "${scripts}/downstream_opts.sh"
finetune_config=conf/finetune_asr.yaml  # fine-tuning config (merged with the package's model config)
# Decoding
beam_size=4            # beam of the beam-search decode (the other decode is greedy)
decode_modes="greedy beam"  # stage 5: greedy, beam (LM decoding), ctc (greedy CTC with the CTC head of a model
                       #   fine-tuned with model_conf ctc_weight > 0, e.g. conf/finetune_asr_ctc.yaml), joint
                       #   (beam search with that head's CTC prefix scores, ESPnet's joint decoding)
decode_ctc_weight=0.3  # CTC weight of the joint decoding (ESPnet's an4 value)
max_len=64             # most text tokens decoded per utterance
curve_sets=""          # stage 9: sets decoded greedy with every kept <N>epoch.pth (WER vs fine-tuning updates); empty: skip
curve_target_wer=auto  # stage 9: fixed WER (%) whose updates-to-reach are reported; auto: the worst model's final WER
curve_decode=greedy    # stage 9: greedy or ctc (then epoch 0, the backbone without a CTC head, is not decoded)
curve_dir=""           # stage 9's output dir (default: <expdir>/asr_curve)
pick_decode_modes=""   # stage 10: decode modes (as --decode_modes) of the checkpoint picked by stage 9's WER on the validation set; empty: skip
pick_ctc_weights=""    # stage 10 with joint in --pick_decode_modes: CTC weights decoded on the validation set; the lowest WER decodes every set (empty: --decode_ctc_weight)
pick_length_bonuses="" # stage 10 with joint in --pick_decode_modes: length bonuses (ESPnet's --penalty, per token) tried with each
                       #   CTC weight on the validation set; the pair of the lowest WER decodes every set with its beam searches
                       #   (joint and beam) -> decode_<set>_<mode>_ln<norm>_lb<bonus>_<tag>/ (empty: no bonus)
pick_length_norm=1.0   # stage 10's beam searches rank finished hypotheses by score / (tokens + 1) ** this; 0 with
                       #   --pick_length_bonuses is ESPnet's search (raw score + bonus, ESPnet's end detection)
pick_pre_beam=lm       # stage 10's joint searches take each hypothesis's 1.5 x beam candidates from the LM (lm: ESPnet's
                       #   pre-beam) or from the CTC prefix scores of every text token (ctc, asr_inference --pre_beam ctc:
                       #   an over-fitted LM head cannot prune what CTC is sure of) -> decode dirs ..._pbctc_<tag>/
pick_average=1         # stage 10: N > 1 decodes the average of the N epochs with the lowest stage-9 validation WER (ESPnet's
                       #   n-best averaging, by that WER) -> <expdir>/asr_<m>/ave<N>best.{pth,json}, decode_<set>_<mode>_ave<N>/
# ESPnet baseline
espnet_asr_config=conf/espnet_asr.yaml  # ESPnet ASR config
espnet_asr_args=""     # extra options of ESPnet's asr_train
espnet_inference_args="--beam_size 4 --ctc_weight 0.3"  # options of ESPnet's asr_inference
espnet_model=valid.acc.best.pth  # ESPnet checkpoint decoded
run_espnet=true        # run the ESPnet baseline (stages 6-7)

help_message="Usage: $0 --src_data_dir DIR --pretrained_model \"a.zip b.zip\" [options]"
parse_options "$@"
recipe_env
[[ "${pick_average}" =~ ^[1-9][0-9]*$ ]] || die "--pick_average must be a whole number >= 1, got '${pick_average}'"
number_re='^-?[0-9]+([.][0-9]+)?$'
for x in ${pick_length_bonuses}; do [[ "${x}" =~ ${number_re} ]] || die "--pick_length_bonuses: '${x}' is not a number"; done
[[ "${pick_length_norm}" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--pick_length_norm must be a number >= 0, got '${pick_length_norm}'"
case "${pick_pre_beam}" in lm) pre_beam_infix="" ;; ctc) pre_beam_infix=_pbctc ;;
  *) die "--pick_pre_beam must be lm or ctc, got '${pick_pre_beam}'" ;; esac
if [ -n "${pick_length_bonuses}" ] && [[ " ${pick_decode_modes} " != *" joint "* ]]; then
  die "--pick_length_bonuses are picked with the joint decoding: add joint to --pick_decode_modes"
fi
task=asr; ft_kind=s2t
. "${scripts}/downstream_stages.sh"

set_mode_opts() {  # MODE OPTION_NAME [CTC_WEIGHT]: the beam (b) and asr_inference options (mode_opts) of a decode mode
  b=1; mode_opts=()
  case "$1" in
    greedy) ;;
    beam) b=${beam_size} ;;
    ctc) mode_opts=(--ctc) ;;
    joint) b=${beam_size}; mode_opts=(--ctc_weight "${3:-${decode_ctc_weight}}") ;;
    *) die "$2: unknown mode '$1' (greedy, beam, ctc, joint)" ;;
  esac
}

if run_stage 5; then
  for m in ${models}; do
    ft=$(ft_dir "${m}")
    stage_begin 5 "decode ${valid_set} ${test_sets} with ${m} (${decode_modes}; beam ${beam_size})"
    require "${ft}/packed.zip" "stage 4 (fine-tuning)"
    for dset in ${valid_set} ${test_sets}; do
      for mode in ${decode_modes}; do
        set_mode_opts "${mode}" --decode_modes
        # shellcheck disable=SC2086
        ${python} -m lst.bin.asr_inference --model "${ft}/packed.zip" --wav_scp "${dumpdir}/raw/${dset}/wav.scp" \
          --output_dir "${ft}/decode_${dset}_${mode}" --beam "${b}" --max_len "${max_len}" "${mode_opts[@]}" \
          --ref_text "${dumpdir}/raw/${dset}/text" ${inference_args}
      done
    done
    ${python} -m lst.bin.downstream_results asr_lm --exp "${ft}" --sets "${valid_set} ${test_sets}" \
      --out "${ft}/RESULTS.md"
    stage_end 5
  done
fi

es=${expdir}/asr_espnet
if ${run_espnet} && run_stage 6; then
  stage_begin 6 "ESPnet ASR baseline (${espnet_asr_config}) -> ${es} (log: ${es}/train.log)"
  bpemodel=$(pkg_dir "${first_m}")/bpe.model
  require "${bpemodel}" "stage 2 (unpack)"
  token_list=data/espnet_token_list/pkg_${first_m}_bpe/tokens.txt
  save_command "${es}"
  ${python} -m lst.bin.prepare_downstream espnet_token_list --bpe_model "${bpemodel}" --out "${token_list}"
  common=(--use_preprocessor true --bpemodel "${bpemodel}" --token_type bpe --token_list "${token_list}"
          --non_linguistic_symbols none --cleaner none --g2p none --frontend default --frontend_conf fs=16k
          --ngpu 0 --num_workers 0
          --train_data_path_and_name_and_type "${dumpdir}/raw/${train_set}/wav.scp,speech,sound"
          --train_data_path_and_name_and_type "${dumpdir}/raw/${train_set}/text,text,text"
          --valid_data_path_and_name_and_type "${dumpdir}/raw/${valid_set}/wav.scp,speech,sound"
          --valid_data_path_and_name_and_type "${dumpdir}/raw/${valid_set}/text,text,text")
  ${python} -m lst.bin.espnet_asr_train --collect_stats true --config "${espnet_asr_config}" "${common[@]}" \
    --train_shape_file "${dumpdir}/raw/${train_set}/wav.scp" --valid_shape_file "${dumpdir}/raw/${valid_set}/wav.scp" \
    --output_dir "${es}/stats"
  n_tok=$(wc -l < "${token_list}")
  for d in train valid; do
    awk -v N="${n_tok}" '{ print $0 "," N }' "${es}/stats/${d}/text_shape" > "${es}/stats/${d}/text_shape.bpe"
  done
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_asr_train --config "${espnet_asr_config}" "${common[@]}" --resume true \
    --normalize global_mvn --normalize_conf "stats_file=${es}/stats/train/feats_stats.npz" \
    --train_shape_file "${es}/stats/train/speech_shape" --train_shape_file "${es}/stats/train/text_shape.bpe" \
    --valid_shape_file "${es}/stats/valid/speech_shape" --valid_shape_file "${es}/stats/valid/text_shape.bpe" \
    --output_dir "${es}" ${espnet_asr_args} 2>&1 | tee -a "${es}/train.log"
  echo $(( $(date +%s) - t0 )) > "${es}/train_seconds"
  stage_end 6
fi

if ${run_espnet} && run_stage 7; then
  stage_begin 7 "ESPnet decode ${valid_set} ${test_sets}"
  require "${es}/${espnet_model}" "stage 6 (ESPnet ASR training)"
  for dset in ${valid_set} ${test_sets}; do
    rm -rf "${es}/decode_${dset}"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.espnet_asr_inference --timing_out "${es}/decode_${dset}/timing.json" \
      --asr_train_config "${es}/config.yaml" --asr_model_file "${es}/${espnet_model}" \
      --data_path_and_name_and_type "${dumpdir}/raw/${dset}/wav.scp,speech,sound" --key_file "${dumpdir}/raw/${dset}/wav.scp" \
      --output_dir "${es}/decode_${dset}" --ngpu 0 --batch_size 1 --lm_weight 0 ${espnet_inference_args}
    ${python} -m lst.bin.score_wer --ref "${dumpdir}/raw/${dset}/text" --hyp "${es}/decode_${dset}/1best_recog/text" \
      --out "${es}/decode_${dset}/score.json"
  done
  stage_end 7
fi

if run_stage 8; then
  stage_begin 8 "comparison table -> ${expdir}/RESULTS.md"
  ${python} -m lst.bin.downstream_results asr_compare --expdir "${expdir}" --models "${models}" \
    --sets "${valid_set} ${test_sets}" --out "${expdir}/RESULTS.md"
  cat "${expdir}/RESULTS.md"
  stage_end 8
fi
if [ -n "${curve_sets}" ] && run_stage 9; then
  [ -n "${curve_dir}" ] || curve_dir=${expdir}/asr_curve
  stage_begin 9 "WER vs fine-tuning updates on ${curve_sets} (${curve_decode}, every kept epoch) -> ${curve_dir}"
  case "${curve_decode}" in greedy) curve_opts=() ;; ctc) curve_opts=(--ctc) ;;
    *) die "--curve_decode: '${curve_decode}' is not greedy or ctc" ;; esac
  exps=""
  for m in ${models}; do
    ft=$(ft_dir "${m}"); pd=$(pkg_dir "${m}")
    require "${ft}/packed.zip" "stage 4 (fine-tuning)"
    ckpts=("0:${pd}/model.pth")  # epoch 0: the pretrained backbone
    [ "${curve_decode}" = ctc ] && ckpts=()  # (which has no CTC head)
    # a fine-tuning from random weights (--init_from_pretrained false) did not start from the backbone
    [ "$(cat "${ft}/initial_weights" 2> /dev/null)" = random ] && ckpts=()
    for f in "${ft}"/*epoch.pth; do
      n=$(basename "${f}" epoch.pth)
      [[ "${n}" =~ ^[0-9]+$ ]] && ckpts+=("${n}:${f}")
    done
    [ ${#ckpts[@]} -gt 0 ] && [ "${ckpts[-1]%%:*}" != 0 ] || die "${ft}: no <N>epoch.pth kept (set keep_nbest_models >= max_epoch in ${finetune_config})"
    mkdir -p "${ft}/curve"
    for dset in ${curve_sets}; do
      require "$(units_dir "${m}")/${dset}/units" "stage 2 (units)"
      for nc in "${ckpts[@]}"; do
        n=${nc%%:*}; ck=${nc#*:}; d=${ft}/curve/decode_${dset}_ep${n}
        [ "${d}/score.json" -nt "${ck}" ] && continue
        log "${m} epoch ${n}: ${dset}"
        # shellcheck disable=SC2086
        ${python} -m lst.bin.asr_inference --model "${ft}/packed.zip" --model_file "${ck}" \
          --units "$(units_dir "${m}")/${dset}/units" --output_dir "${d}" --beam 1 --max_len "${max_len}" "${curve_opts[@]}" \
          --ref_text "${dumpdir}/raw/${dset}/text" ${inference_args} 2> "${d}.log" || die "decode failed: ${d}.log"
      done
    done
    exps+=" ${ft}"
  done
  pick_opts=()
  if [ -n "${pick_decode_modes}" ]; then
    [[ " ${curve_sets} " == *" ${valid_set} "* ]] || die "--pick_decode_modes needs --curve_sets to include ${valid_set}"
    pick_opts=(--pick_set "${valid_set}")
  fi
  ${python} -m lst.bin.asr_curve --exps "${exps# }" --systems "${models}" --sets "${curve_sets}" \
    --target_wer "${curve_target_wer}" --out_dir "${curve_dir}" "${pick_opts[@]+"${pick_opts[@]}"}"
  stage_end 9
fi

search_infix() {  # BONUS -> stage 10's decode-dir infix for its beam searches' length settings ('' for the default ones)
  if [ -z "${pick_length_bonuses}" ] && awk -v n="${pick_length_norm}" 'BEGIN { exit !(n == 1) }'; then
    echo ""
  else
    echo "_ln${pick_length_norm}_lb$1"
  fi
}

if [ -n "${pick_decode_modes}" ] && run_stage 10; then
  for m in ${models}; do
    ft=$(ft_dir "${m}")
    require "${ft}/picked_checkpoint.json" "stage 9 (with --pick_decode_modes and --curve_sets including ${valid_set})"
    n=$(${python} -c 'import json, sys; print(json.load(open(sys.argv[1]))["epoch"])' "${ft}/picked_checkpoint.json" 2> /dev/null) \
      || die "${ft}/picked_checkpoint.json: unreadable or without an epoch (re-run stage 9)"
    [ -n "${n}" ] && [ -f "${ft}/${n}epoch.pth" ] || die "${ft}/picked_checkpoint.json: no kept checkpoint ${ft}/${n}epoch.pth"
    mf=${ft}/${n}epoch.pth; tag=ep${n}; what="epoch ${n}"  # the decoded checkpoint, its decode-dir suffix and name
    ln=""; [ -n "$(search_infix 0)" ] && ln=_ln${pick_length_norm}
    pick_json=picked_ctc_weight${ln}${pre_beam_infix}.json
    if [ "${pick_average}" -gt 1 ]; then
      mf=${ft}/ave${pick_average}best.pth; tag=ave${pick_average}; pick_json=picked_ctc_weight${ln}${pre_beam_infix}_${tag}.json
      if ! [ "${mf}" -nt "${ft}/picked_checkpoint.json" ]; then  # made once per stage-9 pick (resumable)
        ${python} -m lst.bin.average_checkpoints --picked "${ft}/picked_checkpoint.json" --nbest "${pick_average}" \
          --out "${mf}" > /dev/null || die "${m}: averaging the ${pick_average} best epochs failed"
      fi
      what="the average of epochs $(${python} -c 'import json, sys; print(*json.load(open(sys.argv[1]))["epochs"])' \
        "${ft}/ave${pick_average}best.json" 2> /dev/null)" || die "${ft}/ave${pick_average}best.json: unreadable; delete ${mf} and re-run stage 10"
    fi
    stage_begin 10 "decode ${valid_set} ${test_sets} with ${m} ${what} (picked on ${valid_set}; ${pick_decode_modes})"
    joint_w=${decode_ctc_weight}; joint_b=0
    if [ -n "${pick_ctc_weights}${pick_length_bonuses}" ] && [[ " ${pick_decode_modes} " == *" joint "* ]]; then
      decodes=""  # the grid on the validation set; a decode newer than the checkpoint is kept (resumable)
      for w in ${pick_ctc_weights:-${decode_ctc_weight}}; do
        for lb in ${pick_length_bonuses:-0}; do
          d=${ft}/ctc_weight/decode_${valid_set}_joint_w${w}$(search_infix "${lb}")${pre_beam_infix}_${tag}
          if [ -n "${pick_length_bonuses}" ]; then decodes+=" ${w},${lb}:${d}"; else decodes+=" ${w}:${d}"; fi
          [ "${d}/score.json" -nt "${mf}" ] && continue
          log "${m} ${what}: ${valid_set}, joint decoding with CTC weight ${w}, length bonus ${lb} (norm ${pick_length_norm}," \
            "pre-beam ${pick_pre_beam})"
          mkdir -p "${ft}/ctc_weight"
          # shellcheck disable=SC2086
          ${python} -m lst.bin.asr_inference --model "${ft}/packed.zip" --model_file "${mf}" \
            --wav_scp "${dumpdir}/raw/${valid_set}/wav.scp" --output_dir "${d}" --beam "${beam_size}" --max_len "${max_len}" \
            --ctc_weight "${w}" --length_penalty "${pick_length_norm}" --length_bonus "${lb}" --pre_beam "${pick_pre_beam}" \
            --ref_text "${dumpdir}/raw/${valid_set}/text" ${inference_args} 2> "${d}.log" || die "decode failed: ${d}.log"
        done
      done
      picked=$(${python} -m lst.bin.pick_ctc_weight --decodes "${decodes# }" --set "${valid_set}" \
        --out "${ft}/${pick_json}") || die "${m}: picking the CTC weight failed"
      read -r joint_w joint_b <<< "${picked}"; joint_b=${joint_b:-0}
      grid=${pick_ctc_weights:-${decode_ctc_weight}}
      if [ -n "${pick_length_bonuses}" ]; then
        log "${m}: joint CTC weight ${joint_w}, length bonus ${joint_b} (lowest ${valid_set} WER of CTC weights ${grid}" \
          "x length bonuses ${pick_length_bonuses}, length norm ${pick_length_norm}; ${ft}/${pick_json})"
      else
        log "${m}: joint CTC weight ${joint_w} (lowest ${valid_set} WER of ${grid}, pre-beam ${pick_pre_beam}; ${ft}/${pick_json})"
      fi
    fi
    for dset in ${valid_set} ${test_sets}; do
      for mode in ${pick_decode_modes}; do
        set_mode_opts "${mode}" --pick_decode_modes "${joint_w}"
        infix=""
        if [ "${b}" -gt 1 ]; then  # the beam searches (beam, joint) with the picked length settings
          infix=$(search_infix "${joint_b}")
          mode_opts+=(--length_penalty "${pick_length_norm}" --length_bonus "${joint_b}")
        fi
        if [ "${mode}" = joint ]; then infix+=${pre_beam_infix}; mode_opts+=(--pre_beam "${pick_pre_beam}"); fi
        # shellcheck disable=SC2086
        ${python} -m lst.bin.asr_inference --model "${ft}/packed.zip" --model_file "${mf}" \
          --wav_scp "${dumpdir}/raw/${dset}/wav.scp" --output_dir "${ft}/decode_${dset}_${mode}${infix}_${tag}" --beam "${b}" \
          --max_len "${max_len}" "${mode_opts[@]+"${mode_opts[@]}"}" --ref_text "${dumpdir}/raw/${dset}/text" ${inference_args}
      done
    done
    ${python} -m lst.bin.downstream_results asr_lm --exp "${ft}" --sets "${valid_set} ${test_sets}" \
      --out "${ft}/RESULTS.md"
    stage_end 10
  done
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
