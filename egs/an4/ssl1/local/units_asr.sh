#!/usr/bin/env bash
# Units -> text ASR on AN4 for each unit set of this recipe (run.sh stages 7-8; issue 15:
# "MFCC vs HuBERT units, side by side ... same backbone and budget").
#
#   stage 7: data: the AN4 utterances (ids matching --utt_regex; the LJ Speech ones are left
#            out) of --train_set / --dev_set / --test_set for each unit set in --unit_sets
#            -> dump/units_asr/<units>/<set>/{units,text}; one BPE model + token list over the
#            AN4 train transcripts, shared by every unit set (the unit count must agree)
#            -> data/units_asr_bpe<N>/; s2t corpora (speech units -> transcript, build_corpus)
#            -> dump/units_asr/<units>_bpe<N>/<set>/seqs
#   stage 8: per unit set and seed: the same units -> text model trained from scratch with the
#            same config (lst_train; same number of updates: same data size, batch and epochs),
#            checkpoint picked on dev, packed, decoded on dev and test (greedy, and beam
#            --beam_size unless 1; asr_inference --units) -> exp/units_asr_<units>_<config>_bpe<N>_seed<S>/
#            decode_<set>_{greedy,beam<B>}/score.json; table of every run -> exp/units_asr/RESULTS.json + _table.md
# Every stage can be re-run on its own; training resumes from its last checkpoint, and a
# finished run is kept (its .done.json) unless --skip_done false.
set -euo pipefail
# shellcheck disable=SC1091
. utils/lib.sh

opts_begin
stage=7                # first stage to run (7 or 8)
stop_stage=8           # last stage to run
python=python3         # the python that runs the lst tools
dumpdir=dump           # where the unit dumps of stages 3/5 are (dump/units/<units>/<set>)
expdir=exp             # experiments
unit_sets="it0_mfcc_km100 it1_l4_km100"  # unit sets compared (dump/units/<name>), same n_units
train_set=train        # source set of the ASR training utterances (HuBERT's train: AN4 train + LJ)
dev_set=valid          # source set of the dev utterances (the AN4 part of HuBERT's valid)
test_set=an4_test      # test set (AN4 test, never trained on)
utt_regex="^an4-"      # ids kept from every set (AN4; LJ Speech ids are lj-*)
nbpe=100               # sentencepiece pieces of the shared text side (AN4 train has 99 word types: most words one piece)
bpe_type=bpe           # bpe or unigram
config=conf/asr_units_token_lm.yaml  # units -> text model config (the same for every unit set)
train_args=""          # extra options of lst_train (every unit set alike), e.g. "--max_epoch 2"
tag=""                 # name of the model in the exp dir names (default: the config's name)
seeds="0"              # training seeds; each unit set is trained once per seed
eval_model=valid.loss.best.pth  # checkpoint (picked on dev) that is packed and decoded
beam_size=4            # beam of the second decode (1: greedy only)
max_len=48             # most text tokens decoded per utterance
skip_done=true         # keep a finished training run (.done.json); false: train again

help_message="Usage: $0 [--stage 7] [--stop_stage 8] [--unit_sets \"a b\"] [--seeds \"0 1\"] [options]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

[ -n "${tag}" ] || tag=$(basename "${config}" .yaml)
bpe_dir=data/units_asr_${bpe_type}${nbpe}
token_list=${bpe_dir}/tokens.txt
bpe_model=${bpe_dir}/bpe.model
sets="${train_set} ${dev_set} ${test_set}"
data_dir() { echo "${dumpdir}/units_asr/$1/$2"; }           # data_dir UNITS SET
corpus_dir() { echo "${dumpdir}/units_asr/$1_${bpe_type}${nbpe}/$2"; }  # corpus_dir UNITS SET
exp_dir() { echo "${expdir}/units_asr_$1_${tag}_${bpe_type}${nbpe}_seed$2"; }  # exp_dir UNITS SEED

if run_stage 7; then
  stage_begin 7 "units -> text data of ${unit_sets} (${utt_regex} of ${sets}), shared ${bpe_type}${nbpe}"
  infos=()
  for units in ${unit_sets}; do
    for dset in ${sets}; do
      require "${dumpdir}/units/${units}/${dset}/units" "stage 3 or 5 (units ${units})"
      require "${dumpdir}/raw/${dset}/text" "stage 2 (audio format)"
      ${python} local/units_asr_data.py subset --units_dir "${dumpdir}/units/${units}/${dset}" \
        --text "${dumpdir}/raw/${dset}/text" --utt_regex "${utt_regex}" --out_dir "$(data_dir "${units}" "${dset}")"
    done
    infos+=("${dumpdir}/units/${units}/${train_set}/unit_info.json")
  done
  # the text side: AN4 train transcripts only, a unit_info without k-means lineage (lst.stage_io)
  ${python} local/units_asr_data.py subset --text "${dumpdir}/raw/${train_set}/text" --utt_regex "${utt_regex}" \
    --out_dir data/units_asr/text_${train_set}
  ${python} local/units_asr_data.py shared_unit_info --unit_info "${infos[@]}" --out data/units_asr/unit_info.json
  ${python} -m lst.bin.make_token_list --text data/units_asr/text_${train_set}/text \
    --unit_info data/units_asr/unit_info.json --nbpe "${nbpe}" --bpe_type "${bpe_type}" \
    --bpe_prefix "${bpe_model%.model}" --token_list "${token_list}"
  for units in ${unit_sets}; do
    for dset in ${sets}; do
      d=$(data_dir "${units}" "${dset}")
      ${python} -m lst.bin.build_corpus --units "${d}/units" --unit_info "${d}/unit_info.json" --text "${d}/text" \
        --bpe_model "${bpe_model}" --kinds s2t --draw_stats_epochs 0 --out "$(corpus_dir "${units}" "${dset}")/seqs"
    done
  done
  stage_end 7
fi

if run_stage 8; then
  for seed in ${seeds}; do
    for units in ${unit_sets}; do
      ex=$(exp_dir "${units}" "${seed}")
      tr=$(corpus_dir "${units}" "${train_set}")/seqs
      dv=$(corpus_dir "${units}" "${dev_set}")/seqs
      stage_begin 8 "units -> text ASR on ${units}, seed ${seed} (${config}) -> ${ex} (log: ${ex}/train.log)"
      require "${tr}" "stage 7 (units -> text corpora)"
      require "${dv}" "stage 7 (units -> text corpora)"
      data=(--train_data_path_and_name_and_type "${tr},seq,text" --valid_data_path_and_name_and_type "${dv},seq,text")
      kept=false
      if [ "${skip_done}" = true ] && [ -f "${ex}/.done.json" ] && [ -f "${ex}/${eval_model}" ] && [ -f "${ex}/packed.zip" ]; then
        kept=true
        log "${ex} finished training: kept with its package and decodes (--skip_done false trains again)"
      else
        save_command "${ex}"
        ${python} -m lst.bin.lst_train --collect_stats true --config "${config}" --token_list "${token_list}" \
          --ngpu 0 --num_workers 0 "${data[@]}" --train_shape_file "${tr}" --valid_shape_file "${dv}" \
          --output_dir "${ex}/stats" > "${ex}/collect_stats.log" 2>&1 \
          || die "collect stats failed; see ${ex}/collect_stats.log"
        t0=$(date +%s)
        # shellcheck disable=SC2086
        ${python} -m lst.bin.lst_train --config "${config}" --token_list "${token_list}" --seed "${seed}" \
          --ngpu 0 --num_workers 0 --resume true "${data[@]}" \
          --train_shape_file "${ex}/stats/train/seq_shape" --valid_shape_file "${ex}/stats/valid/seq_shape" \
          --output_dir "${ex}" ${train_args} >> "${ex}/train.log" 2>&1 \
          || { tail -5 "${ex}/train.log"; die "training failed; see ${ex}/train.log"; }
        echo $(( $(date +%s) - t0 )) >> "${ex}/train_seconds"  # one line per (re)start
      fi
      require "${ex}/${eval_model}" "stage 8 (training)"
      ${kept} || ${python} -m lst.bin.pack_model --config "${ex}/config.yaml" --model_file "${ex}/${eval_model}" \
        --bpe_model "${bpe_model}" --km_dir "${expdir}/kmeans_${units}" \
        --unit_info "$(data_dir "${units}" "${train_set}")/unit_info.json" --out "${ex}/packed.zip"
      modes="greedy"; [ "${beam_size}" -gt 1 ] && modes="greedy beam${beam_size}"
      for dset in ${dev_set} ${test_set}; do
        d=$(data_dir "${units}" "${dset}")
        for mode in ${modes}; do
          b=1; [ "${mode}" = greedy ] || b=${beam_size}
          if ${kept} && [ -f "${ex}/decode_${dset}_${mode}/score.json" ]; then continue; fi
          ${python} -m lst.bin.asr_inference --model "${ex}/packed.zip" --units "${d}/units" --beam "${b}" \
            --max_len "${max_len}" --ref_text "${d}/text" --output_dir "${ex}/decode_${dset}_${mode}" \
            > "${ex}/decode_${dset}_${mode}.log" 2>&1 || die "decoding failed; see ${ex}/decode_${dset}_${mode}.log"
          log "${units} seed ${seed} ${dset} ${mode}: $(grep -o 'WER.*utterances' "${ex}/decode_${dset}_${mode}.log" | tail -1)"
        done
      done
      stage_end 8
    done
  done
  runs=()
  for units in ${unit_sets}; do for seed in ${seeds}; do runs+=("${units},${seed},$(exp_dir "${units}" "${seed}")"); done; done
  ${python} local/units_asr_results.py --runs "${runs[@]}" --sets "${dev_set} ${test_set}" \
    --out_json "${expdir}/units_asr/RESULTS.json" --out_md "${expdir}/units_asr/RESULTS_table.md"
  cat "${expdir}/units_asr/RESULTS_table.md"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
