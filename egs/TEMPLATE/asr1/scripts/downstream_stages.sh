#!/usr/bin/env bash
# Stages 0-4 of the downstream recipes, written once for asr.sh (task=asr, ft_kind=s2t) and
# tts.sh (task=tts, ft_kind=t2s); sourced by them after their options, path.sh and cmd.sh.
#
#   stage 0: pretrain + pack (only for packages in --pretrained_model that do not exist;
#            lst.sh stages 1-9 + 11 in a private copy of --pretrain_recipe) -> exp/packed/<model>.zip
#   stage 1: data: local/data.sh (or --src_data_dir), 16 kHz PCM    -> data/<set>, dump/raw/<set>
#   stage 2: per package: unpack, units with ITS k-means (--nj jobs) -> exp/pretrained_<m>, dump/units/pkg_<m>/<set>
#   stage 3: fine-tuning corpus of kind ${ft_kind}                  -> dump/corpus/pkg_<m>_<kind>[_lower]/<set>/seqs
#            (--lm_text_case lower: from lower-cased transcripts; tts --text_frontend phones: from ARPAbet
#            phone strings (lst.bin.phonemize); the transcripts used are kept there as text)
#   stage 4: fine-tune (lst_train --init_param; from random weights with --init_from_pretrained false), pack
#                                                                   -> exp/<task>_<m>[/packed.zip, initial_weights]
#
# Names (one place): pkg_dir <m>, units_dir <m>, corpus_dir <m>, ft_dir <m> below.
model_name() { basename "$1" | sed -E 's/\.(zip|tar\.gz|tgz)$//'; }
pkg_dir() { echo "${expdir}/pretrained_$1"; }
units_dir() { echo "${dumpdir}/units/pkg_$1"; }
corpus_dir() {
  local c="${dumpdir}/corpus/pkg_$1_${ft_kind}"
  [ "${text_frontend}" = words ] || c+=_${text_frontend}
  [ "${lm_text_case}" = keep ] || c+=_${lm_text_case}
  echo "${c}"
}
# the transcripts model $1 reads for set $2: the raw text, or stage 3's transformed copy
model_text() {
  if [ "${lm_text_case}" = keep ] && [ "${text_frontend}" = words ]; then echo "${dumpdir}/raw/$2/text"
  else echo "$(corpus_dir "$1")/$2/text"; fi
}
ft_dir() { echo "${expdir}/${task}_$1"; }

all_sets="${train_set} ${valid_set} ${test_sets}"
scripts=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
models=""
for pm in ${pretrained_model}; do models+=" $(model_name "${pm}")"; done
models=${models# }
first_m=${models%% *}

if run_stage 0; then
  stage_begin 0 "pretrained packages: ${pretrained_model}"
  for pm in ${pretrained_model}; do
    [ ! -f "${pm}" ] || continue
    [ -n "${pretrain_recipe}" ] || die "${pm} not found and no --pretrain_recipe to make it"
    log "${pm} missing: pretraining in a private copy of ${pretrain_recipe} (${pretrain_work})"
    "${scripts}/pretrain_and_pack.sh" "${pretrain_recipe}" "${pretrain_work}" "$(dirname "${pm}")" \
      "${pretrain_configs}" "${pretrain_args}"
    require "${pm}" "stage 0 (pretrain + pack; does ${pretrain_configs} make it?)"
  done
  stage_end 0
fi

if run_stage 1; then
  stage_begin 1 "data: ${src_data_dir:-local/data.sh ${local_data_opts}} -> data/, ${dumpdir}/raw/"
  # shellcheck disable=SC2086
  [ -n "${src_data_dir}" ] || local/data.sh ${local_data_opts}
  for dset in ${all_sets}; do
    if [ -n "${src_data_dir}" ]; then
      require "${src_data_dir}/${dset}/wav.scp" "the source recipe's data preparation"
      "${scripts}/copy_data_dir.sh" "${src_data_dir}/${dset}" "data/${dset}"
    fi
    ${python} -m lst.bin.validate_data_dir "data/${dset}"
    ${train_cmd} "${dumpdir}/raw/${dset}.log" ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" \
      --out_dir "${dumpdir}/raw/${dset}" --nj 1 || die "format_wav failed; see ${dumpdir}/raw/${dset}.log"
  done
  stage_end 1
fi

if run_stage 2; then
  stage_begin 2 "unpack the packages, units with each package's k-means (${nj} jobs)"
  for pm in ${pretrained_model}; do
    m=$(model_name "${pm}")
    require "${pm}" "stage 0 (pretrain + pack)"
    rm -rf "$(pkg_dir "${m}")"
    ${python} -m lst.bin.prepare_downstream unpack --model "${pm}" --out_dir "$(pkg_dir "${m}")"
    for dset in ${all_sets}; do
      require "${dumpdir}/raw/${dset}/wav.scp" "stage 1 (data)"
      shard_run "${nj}" "${dumpdir}/raw/${dset}" "wav.scp" "" "$(units_dir "${m}")/${dset}" prepare_units \
        ${python} -m lst.bin.prepare_downstream units --model "$(pkg_dir "${m}")" --wav_scp SHARD_IN/wav.scp \
        --out_dir SHARD_OUT
    done
  done
  stage_end 2
fi

case "${lm_text_case}" in keep|lower) ;; *) die "--lm_text_case must be keep or lower, got '${lm_text_case}'" ;; esac
case "${text_frontend}" in words) ;; phones) [ "${task}" = tts ] || die "--text_frontend phones is for tts (ASR outputs words)" ;;
  *) die "--text_frontend must be words or phones, got '${text_frontend}'" ;; esac
if run_stage 3; then
  stage_begin 3 "${ft_kind} fine-tuning corpora -> $(corpus_dir '<m>')"
  for m in ${models}; do
    for dset in ${all_sets}; do
      require "$(units_dir "${m}")/${dset}/units" "stage 2 (units)"
      text=${dumpdir}/raw/${dset}/text
      if [ "${text_frontend}" = phones ]; then  # utterance id kept, words -> ARPAbet phones (unknown words spelled)
        ${python} -m lst.bin.phonemize --text "${text}" --out "$(corpus_dir "${m}")/${dset}/text"
        text=$(corpus_dir "${m}")/${dset}/text
      fi
      if [ "${lm_text_case}" = lower ]; then  # utterance id kept, words lower-cased
        mkdir -p "$(corpus_dir "${m}")/${dset}"
        awk '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %s", tolower($i); print "" }' "${text}" \
          > "$(corpus_dir "${m}")/${dset}/text.lower"
        mv "$(corpus_dir "${m}")/${dset}/text.lower" "$(corpus_dir "${m}")/${dset}/text"
        text=$(corpus_dir "${m}")/${dset}/text
      fi
      ${python} -m lst.bin.build_corpus --units "$(units_dir "${m}")/${dset}/units" \
        --unit_info "$(units_dir "${m}")/${dset}/unit_info.json" --text "${text}" \
        --bpe_model "$(pkg_dir "${m}")/bpe.model" --kinds "${ft_kind}" --out "$(corpus_dir "${m}")/${dset}/seqs"
    done
  done
  stage_end 3
fi

if run_stage 4; then
  for m in ${models}; do
    ft=$(ft_dir "${m}"); corpus=$(corpus_dir "${m}"); pd=$(pkg_dir "${m}")
    stage_begin 4 "fine-tune ${m} on ${ft_kind} -> ${ft} (log: ${ft}/train.log)"
    require "${corpus}/${train_set}/seqs" "stage 3 (corpus)"
    save_command "${ft}"
    init=(--init_param "${pd}/model.pth")
    ${init_from_pretrained} || { init=(); log "${m}: random initial weights (--init_from_pretrained false)"; }
    # the run's start, read by asr.sh stage 9 (epoch 0 of the curve); a run resumes only from the start it had
    # (checked before collect_stats, so a refused resume costs nothing)
    from=${init[1]:-random}; start=$(cat "${ft}/initial_weights" 2> /dev/null || true)
    if [ -f "${ft}/checkpoint.pth" ] && [ -n "${start}" ]; then
      [ "${start}" = "${from}" ] || die "${ft} started from ${start}: resume it with the same" \
        "--init_from_pretrained, or remove it to start over"
    else
      echo "${from}" > "${ft}/initial_weights"  # (save_command made ${ft})
    fi
    ${python} -m lst.bin.prepare_downstream finetune_config --model "${pd}" --conf "${finetune_config}" \
      --out "${ft}/ft_config.yaml"
    data=(--train_data_path_and_name_and_type "${corpus}/${train_set}/seqs,seq,text"
          --valid_data_path_and_name_and_type "${corpus}/${valid_set}/seqs,seq,text")
    ${python} -m lst.bin.lst_train --collect_stats true --config "${ft}/ft_config.yaml" --ngpu 0 --num_workers 0 \
      "${data[@]}" --train_shape_file "${corpus}/${train_set}/seqs" --valid_shape_file "${corpus}/${valid_set}/seqs" \
      --output_dir "${ft}/stats"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    ${python} -m lst.bin.lst_train --config "${ft}/ft_config.yaml" --ngpu 0 --num_workers 0 --resume true \
      "${init[@]+"${init[@]}"}" "${data[@]}" \
      --train_shape_file "${ft}/stats/train/seq_shape" --valid_shape_file "${ft}/stats/valid/seq_shape" \
      --output_dir "${ft}" ${finetune_args} 2>&1 | tee -a "${ft}/train.log"
    echo $(( $(date +%s) - t0 )) > "${ft}/train_seconds"
    ${python} -m lst.bin.pack_model --config "${ft}/config.yaml" --model_file "${ft}/${init_model}" \
      --bpe_model "${pd}/bpe.model" --km_dir "${pd}" --unit_info "${pd}/unit_info.json" --out "${ft}/packed.zip"
    stage_end 4
  done
fi
