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
#            same config (same number of updates: same data size, batch and epochs), checkpoint
#            picked on dev, decoded on dev and test -> exp/units_asr_<units>_<config>_bpe<N>_seed<S>/
#            decode_<set>_<mode>/score.json; table of every decoded run of the unit sets (any
#            seed, any call) -> exp/units_asr/RESULTS[_espnet].json + _table.md
#            --model lm (default): a decoder-only token LM on `<s> units <t> text` (lst_train),
#              packed, decoded greedy and with beam --beam_size (asr_inference --units)
#            --model espnet: ESPnet's discrete-unit ASR (egs2 asr2: ESPnet's MT task, model
#              discrete_asr; unit embedding + SpecAug, E-Branchformer encoder over the
#              deduplicated units, CTC/attention), trained by lst.bin.espnet_mt_train and decoded
#              by joint CTC/attention beam search (--espnet_beam_size, --ctc_weight), which
#              cannot run away past the units as the free-running LM can; stage 7 then also
#              writes its source side (dump/units_asr/<units>_espnet<_dedup>/<set>/src_text)
# Every stage can be re-run on its own; training resumes from its last checkpoint, and a
# finished run is kept (its .done.json) unless --skip_done false.
# Threads: path.sh sets OMP_NUM_THREADS=2 unless it is set. Two seeds trained side by side on
# 2 cores need OMP_NUM_THREADS=1 each (with 2 each they ran 9x slower here: 4 threads on 2 cores).
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
model=lm               # lm: decoder-only token LM (lst_train); espnet: ESPnet's discrete-unit ASR (asr2)
config=""              # model config, the same for every unit set (default: conf/asr_units_token_lm.yaml
                       # for lm, conf/asr_units_espnet_ebf.yaml for espnet)
train_args=""          # extra options of lst_train (every unit set alike), e.g. "--max_epoch 2"
tag=""                 # name of the model in the exp dir names (default: the config's name)
seeds="0"              # training seeds; each unit set is trained once per seed
eval_model=valid.loss.best.pth  # checkpoint (picked on dev) that is packed and decoded
beam_size=4            # beam of the second decode (1: greedy only)
max_len=48             # most text tokens decoded per utterance
espnet_dedup=true      # espnet: merge repeated units in the source (as ESPnet's asr2)
espnet_beam_size=10    # espnet: beam of the joint CTC/attention search
ctc_weight=0.3         # espnet: CTC weight in decoding
espnet_eval_model=valid.acc.ave.pth  # espnet: checkpoint decoded (ESPnet's average of the 5 best on dev accuracy)
skip_done=true         # keep a finished training run (.done.json); false: train again

help_message="Usage: $0 [--stage 7] [--stop_stage 8] [--unit_sets \"a b\"] [--seeds \"0 1\"] [options]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

case "${model}" in
  lm) [ -n "${config}" ] || config=conf/asr_units_token_lm.yaml ;;
  espnet) [ -n "${config}" ] || config=conf/asr_units_espnet_ebf.yaml ;;
  *) die "--model ${model}: expected lm or espnet" ;;
esac
[ -n "${tag}" ] || tag=$(basename "${config}" .yaml)
dedup_tag=$([ "${espnet_dedup}" = true ] && echo _dedup || echo "")
if [ "${model}" = espnet ] && [ "${espnet_dedup}" != true ]; then tag=${tag}_nodedup; fi
bpe_dir=data/units_asr_${bpe_type}${nbpe}
token_list=${bpe_dir}/tokens.txt
bpe_model=${bpe_dir}/bpe.model
src_token_list=data/units_asr/src_tokens.txt     # espnet: <blank> <unk> 0..K-1 <sos/eos>
espnet_token_list=${bpe_dir}/espnet_tokens.txt   # espnet: the BPE pieces in ESPnet's layout
results=${expdir}/units_asr/RESULTS$([ "${model}" = espnet ] && echo _espnet || echo "")
sets="${train_set} ${dev_set} ${test_set}"
data_dir() { echo "${dumpdir}/units_asr/$1/$2"; }           # data_dir UNITS SET
corpus_dir() { echo "${dumpdir}/units_asr/$1_${bpe_type}${nbpe}/$2"; }  # corpus_dir UNITS SET
src_dir() { echo "${dumpdir}/units_asr/$1_espnet${dedup_tag}/$2"; }     # src_dir UNITS SET (espnet source side)
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
      if [ "${model}" = espnet ]; then
        ${python} local/units_asr_data.py espnet_src --units_dir "${d}" --out_dir "$(src_dir "${units}" "${dset}")" \
          --dedup "${espnet_dedup}" --token_list "${src_token_list}"
      fi
    done
  done
  if [ "${model}" = espnet ]; then
    ${python} -m lst.bin.prepare_downstream espnet_token_list --bpe_model "${bpe_model}" --out "${espnet_token_list}"
  fi
  stage_end 7
fi

train_lm() {  # train_lm UNITS SEED EXP: lst_train on the s2t corpora, packed for asr_inference
  local units=$1 seed=$2 ex=$3
  local tr dv
  tr=$(corpus_dir "${units}" "${train_set}")/seqs
  dv=$(corpus_dir "${units}" "${dev_set}")/seqs
  require "${tr}" "stage 7 (units -> text corpora)"
  require "${dv}" "stage 7 (units -> text corpora)"
  local data=(--train_data_path_and_name_and_type "${tr},seq,text" --valid_data_path_and_name_and_type "${dv},seq,text")
  ${python} -m lst.bin.lst_train --collect_stats true --config "${config}" --token_list "${token_list}" \
    --ngpu 0 --num_workers 0 "${data[@]}" --train_shape_file "${tr}" --valid_shape_file "${dv}" \
    --output_dir "${ex}/stats" > "${ex}/collect_stats.log" 2>&1 \
    || die "collect stats failed; see ${ex}/collect_stats.log"
  local t0
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.lst_train --config "${config}" --token_list "${token_list}" --seed "${seed}" \
    --ngpu 0 --num_workers 0 --resume true "${data[@]}" \
    --train_shape_file "${ex}/stats/train/seq_shape" --valid_shape_file "${ex}/stats/valid/seq_shape" \
    --output_dir "${ex}" ${train_args} >> "${ex}/train.log" 2>&1 \
    || { tail -5 "${ex}/train.log"; die "training failed; see ${ex}/train.log"; }
  echo $(( $(date +%s) - t0 )) >> "${ex}/train_seconds"  # one line per (re)start
  require "${ex}/${eval_model}" "stage 8 (training)"
  ${python} -m lst.bin.pack_model --config "${ex}/config.yaml" --model_file "${ex}/${eval_model}" \
    --bpe_model "${bpe_model}" --km_dir "${expdir}/kmeans_${units}" \
    --unit_info "$(data_dir "${units}" "${train_set}")/unit_info.json" --out "${ex}/packed.zip"
}

decode_lm() {  # decode_lm UNITS EX SET MODE: asr_inference --units of the packed model
  local units=$1 ex=$2 dset=$3 mode=$4 b=1 d
  d=$(data_dir "${units}" "${dset}")
  [ "${mode}" = greedy ] || b=${beam_size}
  ${python} -m lst.bin.asr_inference --model "${ex}/packed.zip" --units "${d}/units" --beam "${b}" \
    --max_len "${max_len}" --ref_text "${d}/text" --output_dir "${ex}/decode_${dset}_${mode}" \
    > "${ex}/decode_${dset}_${mode}.log" 2>&1 || die "decoding failed; see ${ex}/decode_${dset}_${mode}.log"
}

train_espnet() {  # train_espnet UNITS SEED EXP: ESPnet's discrete-unit ASR (MT task) on src_text -> text
  local units=$1 seed=$2 ex=$3 dset
  for dset in ${train_set} ${dev_set}; do require "$(src_dir "${units}" "${dset}")/src_text" "stage 7 with --model espnet"; done
  require "${espnet_token_list}" "stage 7 with --model espnet"
  local common=(--use_preprocessor true --token_type bpe --bpemodel "${bpe_model}" --token_list "${espnet_token_list}"
    --src_token_type word --src_token_list "${src_token_list}" --cleaner none --g2p none
    --non_linguistic_symbols none --ngpu 0 --num_workers 0
    --train_data_path_and_name_and_type "$(src_dir "${units}" "${train_set}")/src_text,src_text,text"
    --train_data_path_and_name_and_type "$(data_dir "${units}" "${train_set}")/text,text,text"
    --valid_data_path_and_name_and_type "$(src_dir "${units}" "${dev_set}")/src_text,src_text,text"
    --valid_data_path_and_name_and_type "$(data_dir "${units}" "${dev_set}")/text,text,text")
  ${python} -m lst.bin.espnet_mt_train --collect_stats true --config "${config}" "${common[@]}" \
    --train_shape_file "$(src_dir "${units}" "${train_set}")/src_text" \
    --valid_shape_file "$(src_dir "${units}" "${dev_set}")/src_text" \
    --output_dir "${ex}/stats" > "${ex}/collect_stats.log" 2>&1 \
    || die "collect stats failed; see ${ex}/collect_stats.log"
  local t0
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_mt_train --config "${config}" "${common[@]}" --seed "${seed}" --resume true \
    --train_shape_file "${ex}/stats/train/src_text_shape" --train_shape_file "${ex}/stats/train/text_shape" \
    --valid_shape_file "${ex}/stats/valid/src_text_shape" --valid_shape_file "${ex}/stats/valid/text_shape" \
    --output_dir "${ex}" ${train_args} >> "${ex}/train.log" 2>&1 \
    || { tail -5 "${ex}/train.log"; die "training failed; see ${ex}/train.log"; }
  echo $(( $(date +%s) - t0 )) >> "${ex}/train_seconds"  # one line per (re)start
  require "${ex}/${espnet_eval_model}" "stage 8 (training)"
}

decode_espnet() {  # decode_espnet UNITS EX SET MODE: joint CTC/attention beam search, scored like the LM's
  local units=$1 ex=$2 dset=$3 mode=$4 src out
  src=$(src_dir "${units}" "${dset}")/src_text
  out=${ex}/decode_${dset}_${mode}
  require "${src}" "stage 7 with --model espnet"
  rm -rf "${out}"
  ${python} -m lst.bin.espnet_mt_inference --timing_out "${out}/timing.json" --mt_train_config "${ex}/config.yaml" \
    --mt_model_file "${ex}/${espnet_eval_model}" --data_path_and_name_and_type "${src},src_text,text" \
    --key_file "${src}" --output_dir "${out}" --ngpu 0 --batch_size 1 --beam_size "${espnet_beam_size}" \
    --ctc_weight "${ctc_weight}" > "${out}.log" 2>&1 || die "decoding failed; see ${out}.log"
  ${python} -m lst.bin.score_wer --ref "$(data_dir "${units}" "${dset}")/text" --hyp "${out}/1best_recog/text" \
    --out "${out}/score.json" >> "${out}.log" 2>&1 || die "scoring failed; see ${out}.log"
}

if run_stage 8; then
  if [ "${model}" = lm ]; then
    done_file=${eval_model}; modes="greedy"; [ "${beam_size}" -gt 1 ] && modes="greedy beam${beam_size}"
  else
    done_file=${espnet_eval_model}; modes="beam${espnet_beam_size}_ctc${ctc_weight}"
  fi
  for seed in ${seeds}; do
    for units in ${unit_sets}; do
      ex=$(exp_dir "${units}" "${seed}")
      stage_begin 8 "units -> text ASR (${model}) on ${units}, seed ${seed} (${config}) -> ${ex} (log: ${ex}/train.log)"
      kept=false
      # lst_train marks a finished run (.done.json); ESPnet's trainer writes the averaged model last
      if [ "${skip_done}" = true ] && [ -f "${ex}/${done_file}" ] \
          && { [ "${model}" = espnet ] || { [ -f "${ex}/.done.json" ] && [ -f "${ex}/packed.zip" ]; }; }; then
        kept=true
        log "${ex} finished training: kept with its decodes (--skip_done false trains again)"
      else
        ${python} local/units_asr_data.py check_shared --shared data/units_asr/unit_info.json \
          --unit_info "${dumpdir}/units/${units}/${train_set}/unit_info.json" || die "stage 8: ${units} needs its own stage 7"
        save_command "${ex}"
        "train_${model}" "${units}" "${seed}" "${ex}"
      fi
      for dset in ${dev_set} ${test_set}; do
        for mode in ${modes}; do
          if ${kept} && [ -f "${ex}/decode_${dset}_${mode}/score.json" ]; then continue; fi
          "decode_${model}" "${units}" "${ex}" "${dset}" "${mode}"
          log "${units} seed ${seed} ${dset} ${mode}: $(${python} -c 'import json, sys; s = json.load(open(sys.argv[1])); print("WER %.2f %%, CER %.2f %%" % (s["wer"], s["cer"]))' "${ex}/decode_${dset}_${mode}/score.json")"
        done
      done
      stage_end 8
    done
  done
  # the table holds every finished run of these unit sets, whatever call trained it: two calls
  # run in parallel (one per seed) each rewrite it, and the one that finishes last lists both
  runs=()
  shopt -s nullglob
  for units in ${unit_sets}; do
    for ex in $(printf '%s\n' "$(exp_dir "${units}" "")"* | sort -V); do
      seed=${ex##*_seed}
      [[ "${seed}" =~ ^[0-9]+$ ]] || continue
      complete=true
      for dset in ${dev_set} ${test_set}; do
        for mode in ${modes}; do [ -f "${ex}/decode_${dset}_${mode}/score.json" ] || complete=false; done
      done
      if ${complete}; then runs+=("${units},${seed},${ex}"); else log "${ex}: not decoded yet, left out of the table"; fi
    done
  done
  shopt -u nullglob
  ${python} local/units_asr_results.py --runs "${runs[@]}" --sets "${dev_set} ${test_set}" \
    --out_json "${results}.json" --out_md "${results}_table.md"
  cat "${results}_table.md"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
