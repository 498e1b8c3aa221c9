#!/usr/bin/env bash
# Pretraining of the token baseline and LST on real AN4 speech + the spoken/text story corpus
# (issue 14: "pretrain ... on AN4 train speech units, AN4 transcripts, the spoken/text story
# corpus and the text corpora"), then packing for ../asr1. On this CPU the pretraining CONTINUES
# the finished 256x4 backbones of the compute-controlled sweep in --backbone_recipe (trained on
# the espeak-ng spoken stories + text) instead of starting from scratch: each run starts from its
# backbone's weights (--init_param) and trains the same FLOP budget on the same mixed corpus.
# The backbones' MFCC 25 Hz k-means and BPE model are kept (the packages must carry them).
#
#   stage 1: AN4 units with the backbones' k-means (MFCC, 25 Hz)  -> dump/units/<tag>_mfcc_<hz>hz/<set>
#            (stages 1-2 keep a set's finished output; delete it to rebuild)
#   stage 2: AN4 corpus (speech text s2t t2s + word-level interleaved, from the pocketsphinx
#            word_ctm of lst.sh stage 2), transcripts lower-cased as the stories' BPE expects
#            -> dump/corpus/<tag>_an4/<set>/seqs; the mixed corpus: the story corpus' train
#            seqs + AN4 train seqs x --an4_repeat (ids prefixed an4x<r>_), valid: story valid + AN4
#            dev (ids prefixed an4_)
#            -> dump/corpus/<tag>_mix/{train,valid}/seqs
#   stage 3: per backbone: FLOP plan (lst.bin.budget plan), collect stats, training within
#            --flop_budget from the backbone (lst.bin.budget train --init_param; from scratch with
#            --init_from_backbone false)
#            -> exp/<tag>/<name>/ (train.log, budget_ledger.json, train_wall_seconds)
#   stage 4: pack each run's final checkpoint (k-means + BPE of the backbones) -> exp/<tag>/<name>/packed.zip
#   stage 5: per-kind NLL (lst.bin.evaluate) on the AN4 --test_sets corpus (never trained on) and
#            the story valid set, of each backbone before (not from scratch) and after
#            -> exp/<tag>/<name>/RESULTS{_before,}.md
# Then: cd ../asr1 && ./run.sh --run_espnet_baseline false --run_lst true --backbone_recipe ../lst1 \
#   --backbone_runs "token_lm_an4:exp/<tag>/token_lm lst_an4:exp/<tag>/lst" (their packed.zip is
# copied; see ../asr1/RESULTS.md). Every stage re-runs on its own; training resumes.
set -euo pipefail
# shellcheck disable=SC1091
. utils/lib.sh

opts_begin
stage=1                 # first stage to run
stop_stage=5            # last stage to run
python=python3          # the python that runs the lst tools
dumpdir=dump            # AN4 audio of lst.sh stage 2 (dump/raw/<set>/{wav.scp,text,word_ctm})
expdir=exp              # experiments
backbone_recipe=../../rocstories/lst1  # the recipe holding the backbones, their k-means, BPE and corpus (only read)
backbone_runs="token_lm:exp/sweep_f4e13/m/token_lm_flops lst:exp/sweep_f4e13/m/lst_curriculum_flops"  # <name>:<run dir>
backbone_ckpt=4epoch.pth               # checkpoint of each run the pretraining starts from
init_from_backbone=true  # false: train from scratch (random weights) with the backbone's model and training
                         # settings (its train.yaml), e.g. on a corpus of units its weights never saw
backbone_km=exp/kmeans_mfcc_25hz_km100 # k-means of the units (relative to --backbone_recipe, or absolute: e.g. one fitted on AN4 here)
backbone_token_dir=data/token_list/bpe2000_km100  # BPE model + token list of the backbones
backbone_corpus=dump/corpus/mfcc_25hz_km100_bpe2000  # the backbones' training corpus (<set>/seqs)
backbone_valid=valid    # its validation set
frame_rate_hz=25        # unit rate of the backbones' k-means (MFCC)
train_set=train         # AN4 sets
valid_set=dev
test_sets=test          # AN4 sets only evaluated (stage 5)
an4_repeat=4            # copies of the AN4 train corpus in the mix (it is 1/9 of the stories' sequences)
corpus_kinds="speech text s2t t2s"     # AN4 sequence kinds (+ interleaved)
flop_budget=4e13        # training FLOPs of each run (the sweep's budget: the same again)
target_epochs=4         # epochs the budget is split into (checkpoints)
tag=an4_backbones       # name of this pretraining (dirs exp/<tag>, dump/corpus/<tag>_*)
nj=1                    # jobs of the unit dump

help_message="Usage: $0 [--stage 1] [--stop_stage 5] [--flop_budget 4e13] [--an4_repeat 4] [options]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

br=${backbone_recipe}
km_dir=${br}/${backbone_km}; [ "${backbone_km#/}" = "${backbone_km}" ] || km_dir=${backbone_km}  # absolute: as given
token_list=${br}/${backbone_token_dir}/tokens.txt
bpe_model=${br}/${backbone_token_dir}/bpe.model
units_dir=${dumpdir}/units/${tag}_mfcc_${frame_rate_hz}hz
an4_corpus=${dumpdir}/corpus/${tag}_an4
mix_corpus=${dumpdir}/corpus/${tag}_mix
out=${expdir}/${tag}
lower() { awk '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %s", tolower($i); print "" }' "$1"; }

if run_stage 1; then
  stage_begin 1 "AN4 units with ${km_dir} -> ${units_dir}"
  require "${km_dir}/km.pkl" "the backbone recipe's k-means"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    [ ! -s "${units_dir}/${dset}/units" ] || { log "${units_dir}/${dset}/units exists: kept"; continue; }
    require "${dumpdir}/raw/${dset}/wav.scp" "lst.sh stage 2 (audio format)"
    ${python} -m lst.bin.dump_features --wav_scp "${dumpdir}/raw/${dset}/wav.scp" \
      --out_dir "${units_dir}/feats/${dset}" --feature_type mfcc --frame_rate_hz "${frame_rate_hz}" --nj "${nj}"
    ${python} -m lst.bin.dump_units --feats_dir "${units_dir}/feats/${dset}" --km_dir "${km_dir}" \
      --out_dir "${units_dir}/${dset}" --nj "${nj}"
  done
  stage_end 1
fi

if run_stage 2; then
  stage_begin 2 "AN4 corpus (${corpus_kinds} + interleaved) -> ${an4_corpus}; mix -> ${mix_corpus}"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    d=${an4_corpus}/${dset}
    [ ! -s "${d}/seqs" ] || { log "${d}/seqs exists: kept"; continue; }
    mkdir -p "${d}"
    require "${units_dir}/${dset}/units" "stage 1 (units)"
    require "${dumpdir}/raw/${dset}/word_ctm" "lst.sh stage 2 with --word_aligner pocketsphinx"
    lower "${dumpdir}/raw/${dset}/text" > "${d}/text"
    awk '{ $2 = tolower($2); print }' "${dumpdir}/raw/${dset}/word_ctm" > "${d}/word_ctm"
    ${python} -m lst.bin.build_corpus --units "${units_dir}/${dset}/units" \
      --unit_info "${units_dir}/${dset}/unit_info.json" --text "${d}/text" --word_ctm "${d}/word_ctm" \
      --bpe_model "${bpe_model}" --kinds "${corpus_kinds}" --out "${d}/seqs.kinds"
    ${python} -m lst.bin.build_interleaved --units "${units_dir}/${dset}/units" \
      --unit_info "${units_dir}/${dset}/unit_info.json" --word_ctm "${d}/word_ctm" --text "${d}/text" \
      --bpe_model "${bpe_model}" --out "${d}/seqs.inter"
    LC_ALL=C sort "${d}/seqs.kinds" "${d}/seqs.inter" > "${d}/seqs"
  done
  if [ -s "${mix_corpus}/valid/seqs" ]; then
    log "${mix_corpus} exists: kept"
  else
    for s in train valid; do
      require "${br}/${backbone_corpus}/$([ ${s} = train ] && echo train || echo "${backbone_valid}")/seqs" \
        "the backbone recipe's corpus build"
    done
    mkdir -p "${mix_corpus}/train" "${mix_corpus}/valid"
    {
      cat "${br}/${backbone_corpus}/train/seqs"
      for r in $(seq 1 "${an4_repeat}"); do awk -v p="an4x${r}_" '{ print p $0 }' "${an4_corpus}/${train_set}/seqs"; done
    } | LC_ALL=C sort > "${mix_corpus}/train/seqs"
    { cat "${br}/${backbone_corpus}/${backbone_valid}/seqs"; awk '{ print "an4_" $0 }' "${an4_corpus}/${valid_set}/seqs"; } \
      | LC_ALL=C sort > "${mix_corpus}/valid/seqs.tmp"
    for s in train valid; do
      f=${mix_corpus}/${s}/seqs; [ ${s} = train ] || f+=.tmp
      dup=$(cut -d' ' -f1 "${f}" | uniq -d | head -n 3)
      [ -z "${dup}" ] || die "${f}: duplicate sequence ids (the AN4 and backbone corpora overlap?): ${dup//$'\n'/ }"
    done
    mv "${mix_corpus}/valid/seqs.tmp" "${mix_corpus}/valid/seqs"  # last: its presence marks the mix done
    log "mixed corpus: $(wc -l < "${mix_corpus}/train/seqs") train sequences" \
        "($(wc -l < "${an4_corpus}/${train_set}/seqs") AN4 x ${an4_repeat}), $(wc -l < "${mix_corpus}/valid/seqs") valid"
  fi
  stage_end 2
fi

data=(--train_data_path_and_name_and_type "${mix_corpus}/train/seqs,seq,text"
      --valid_data_path_and_name_and_type "${mix_corpus}/valid/seqs,seq,text")
if run_stage 3; then
  for nr in ${backbone_runs}; do
    name=${nr%%:*}; run=${br}/${nr#*:}; d=${out}/${name}
    init_opt=()
    if ${init_from_backbone}; then
      stage_begin 3 "${name}: ${flop_budget} FLOPs from ${run}/${backbone_ckpt} -> ${d} (log: ${d}/train.log)"
      require "${run}/${backbone_ckpt}" "the backbone recipe's training"
      init_opt=(--init_param "${run}/${backbone_ckpt}")
    else
      stage_begin 3 "${name}: ${flop_budget} FLOPs from scratch with ${run}/train.yaml's settings -> ${d} (log: ${d}/train.log)"
      require "${run}/train.yaml" "the backbone recipe's training"
    fi
    require "${mix_corpus}/train/seqs" "stage 2 (corpus)"
    mkdir -p "${d}"
    save_command "${d}"
    [ -f "${d}/plan.json" ] || ${python} -m lst.bin.budget plan --config "${run}/train.yaml" --token_list "${token_list}" \
      --corpus "${mix_corpus}/train/seqs" --flop_budget "${flop_budget}" --target_epochs "${target_epochs}" \
      --out_config "${d}/train.yaml" > "${d}/plan.json"
    [ -f "${d}/stats/train/seq_shape" ] || ${python} -m lst.bin.lst_train --collect_stats true --config "${d}/train.yaml" \
      --token_list "${token_list}" --ngpu 0 --num_workers 0 "${data[@]}" \
      --train_shape_file "${mix_corpus}/train/seqs" --valid_shape_file "${mix_corpus}/valid/seqs" \
      --output_dir "${d}/stats" > "${d}/stats.log" 2>&1 || die "collect stats failed; see ${d}/stats.log"
    if [ ! -f "${d}/train_wall_seconds" ]; then
      t0=$(date +%s)
      ${python} -m lst.bin.budget train --flop_budget "${flop_budget}" --config "${d}/train.yaml" \
        --token_list "${token_list}" --ngpu 0 --num_workers 0 --resume true ${init_opt[@]+"${init_opt[@]}"} \
        "${data[@]}" --train_shape_file "${d}/stats/train/seq_shape" --valid_shape_file "${d}/stats/valid/seq_shape" \
        --output_dir "${d}" >> "${d}/train.log" 2>&1 || { tail -n 20 "${d}/train.log" >&2; die "training failed; see ${d}/train.log"; }
      echo $(( $(date +%s) - t0 )) > "${d}/train_wall_seconds"
    fi
    stage_end 3
  done
fi

if run_stage 4; then
  stage_begin 4 "pack the final checkpoints -> ${out}/<name>/packed.zip"
  for nr in ${backbone_runs}; do
    name=${nr%%:*}; d=${out}/${name}
    require "${d}/train_wall_seconds" "stage 3 (training)"
    last=$(sed -n 's/^max_epoch: *//p' "${d}/train.yaml")
    ${python} -m lst.bin.pack_model --config "${d}/config.yaml" --model_file "${d}/${last}epoch.pth" \
      --bpe_model "${bpe_model}" --km_dir "${km_dir}" --unit_info "${units_dir}/${train_set}/unit_info.json" \
      --out "${d}/packed.zip"
  done
  stage_end 4
fi
if run_stage 5; then
  stage_begin 5 "per-kind NLL before / after on AN4 ${test_sets} + ${backbone_valid} of the stories -> ${out}/<name>/RESULTS{_before,}.md"
  eval_data=(--data "stories_${backbone_valid}=${br}/${backbone_corpus}/${backbone_valid}/seqs")
  for dset in ${test_sets}; do
    require "${an4_corpus}/${dset}/seqs" "stage 2 (corpus)"
    eval_data+=(--data "an4_${dset}=${an4_corpus}/${dset}/seqs")
  done
  for nr in ${backbone_runs}; do
    name=${nr%%:*}; run=${br}/${nr#*:}; d=${out}/${name}
    require "${d}/train_wall_seconds" "stage 3 (training)"
    last=$(sed -n 's/^max_epoch: *//p' "${d}/train.yaml")
    if ${init_from_backbone}; then
      ${python} -m lst.bin.evaluate --config "${run}/config.yaml" --model_file "${run}/${backbone_ckpt}" \
        "${eval_data[@]}" --results "${d}/RESULTS_before.md"
    else
      log "${name}: trained from scratch, no 'before' model to score"
    fi
    ${python} -m lst.bin.evaluate --config "${d}/config.yaml" --model_file "${d}/${last}epoch.pth" \
      "${eval_data[@]}" --results "${d}/RESULTS.md"
  done
  stage_end 5
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
