#!/usr/bin/env bash
# Shared stage-numbered recipe for speech-text LMs over discrete units (token baseline or
# LST), in the style of ESPnet's egs2/TEMPLATE/asr1/asr.sh. Called by egs/<corpus>/lst1/run.sh.
#
#   stage 1: data prep (local/data.sh -> data/{train,valid,test} kaldi dirs) + validation
#   stage 2: audio format (16 kHz mono PCM)         -> dump/raw/<set>  (+ word_ctm with --word_aligner)
#   stage 3: frame features (MFCC or SSL layer)     -> dump/feats/<feat>_<hz>hz/<set>
#   stage 4: k-means learning on the train set      -> exp/kmeans_<feat>_<hz>hz_km<K> (--unit_codebook argmax: _argmax, nothing fitted)
#   stage 5: unit dump                              -> dump/units/<unit_tag>/<set>/units
#   stage 6: sentencepiece BPE + joint token list   -> data/token_list/bpe<N>_km<K>/{bpe.model,tokens.txt}
#   stage 7: corpus build (speech/text/s2t/t2s, +interleaved when word_ctm exists) -> dump/corpus/<corpus_tag>/<set>/seqs
#            (+ word-level documents for the paper's on-the-fly interleaving when word_ctm exists -> <set>/docs)
#   stage 8: collect stats (ESPnet collect_stats)   -> exp/lst_stats_<corpus_tag>
#   stage 9: training (ESPnet trainer)              -> exp/lst_<config>[<args>]_<corpus_tag>
#   stage 10: evaluation: per-kind, per-modality validation loss -> exp/lst_..._<corpus_tag>/RESULTS.md
#   stage 11: pack the trained model (config, weights, token list, BPE, k-means) -> exp/lst_..._<corpus_tag>/packed.zip
#
# Output names carry their settings (computed once, below; `./run.sh --print_paths true` prints
# them): <unit_tag> = <feat>_<hz>hz_{km<K>,argmax}[_dedup][_kmf<max frames>], <corpus_tag> = <unit_tag>_bpe<N>
# [_<kinds>][_nointer], so another --n_clusters or --nbpe never writes into an older run's
# folders. Every experiment directory keeps the command line that made it (run.sh in it).
# The data stages 3, 5 and 7 split their input into --nj shards, run one job per shard through
# ${train_cmd} (cmd.sh: local by default, Slurm through slurm.pl or submitit) and merge the
# shards byte for byte as one job would write them.
# Every stage can be re-run on its own (--stage N --stop_stage N); training resumes from its
# last checkpoint. A stage whose input is missing stops and names the stage that makes it.
set -euo pipefail
. utils/lib.sh

opts_begin
# General
stage=1                # first stage to run
stop_stage=10000       # last stage to run
skip_stages=""         # stages not to run, e.g. "3 4"
nj=2                   # jobs (shards) of the data stages, dispatched by ${train_cmd} of cmd.sh
python=python3         # the python that runs the lst tools
dumpdir=dump           # prepared data: raw audio, features, units, corpus
expdir=exp             # experiments: k-means, stats, models
print_paths=false      # print the output paths (and unit settings) these options give, as name=value, and exit
# Data
local_data_opts=""     # options of local/data.sh
train_set=train        # training set (data/<set>)
valid_set=valid        # validation set
test_sets="test"       # evaluation sets
word_aligner=""        # stage 2 writes word_ctm for recorded audio: a trained lst.bin.ctc_align model dir, or pocketsphinx (lst.bin.ps_align, + phone_ctm)
# Units
feature_type=mfcc      # mfcc, ssl (s3prl upstream checkpoint), espnet_ssl (a HuBERT from egs/*/ssl1) or phone_posterior (lst/units/phones.py)
ssl_ckpt=""            # the feature model: local s3prl-loadable checkpoint (ssl), ESPnet HuBERT (espnet_ssl), phone classifier (phone_posterior; default exp/phone_classifier/model.pth, which stage 3 trains when missing)
phone_classifier_args=""  # options of lst.bin.train_phone_classifier (feature_type=phone_posterior), e.g. "--steps 3000"
ssl_layer=9            # SSL layer whose output is clustered
frame_rate_hz=50       # 50 (native) or 25 (2x pooled)
n_clusters=100         # k-means codebook size K
unit_codebook=kmeans   # kmeans, or argmax: each frame's unit is its largest feature (phone_posterior: the most likely phone; K = the feature dim, --n_clusters unused)
kmeans_max_frames=100000  # frames sampled for k-means
kmeans_dir=""          # use a k-means fitted elsewhere (km.pkl + km_info.json, e.g. on real speech): stage 4 checks it instead of fitting; needs --unit_tag
dedup=false            # run-length deduplicate units
unit_tag=""            # name of the unit setting (default <feat>_<hz>hz_km<K>[_dedup][_kmf<frames>])
# Text
nbpe=100               # sentencepiece vocabulary size
bpe_type=bpe           # bpe or unigram (sentencepiece model_type)
bpe_from=""            # stage 6 copies this trained sentencepiece .model instead of training one (ids unchanged, e.g. a backbone's)
# Corpus
corpus_kinds="speech text s2t t2s"  # sequence kinds of the corpus
interleave=true        # add SpiritLM-style word-level interleaved sequences when word_ctm exists
interleave_opts=""     # options of lst.bin.build_interleaved
corpus_tag=""          # name of the corpus setting (default <unit_tag>_<bpe_type><nbpe>[_<kinds>][_nointer])
doc_max_len=""         # split documents (docs) to this many tokens (default: model_conf.max_len of lst_config, else 2048)
# Training
lst_config=""          # training config (required), e.g. conf/train_lst_debug.yaml
lst_tag=""             # name of the model (default: config name + --lst_args, as ESPnet's asr_tag)
lst_args=""            # extra options of lst.bin.lst_train, e.g. "--max_epoch 2"
collect_stats_args=""  # extra options of the collect-stats run
eval_model=valid.loss.best.pth  # checkpoint evaluated (stage 10) and packed (stage 11)

help_message="Usage: $0 --lst_config conf/train.yaml [options]"
parse_options "$@"

# ---- names: every output path, from the settings (the one place that computes them) ----
feat_tag=${feature_type}
if [ "${feature_type}" = ssl ]; then
  ckpt=$(basename "${ssl_ckpt:-none}"); feat_tag=ssl_${ckpt%.*}_l${ssl_layer}
elif [ "${feature_type}" = espnet_ssl ]; then  # named by its training dir (ssl1's exp/hubert_it<i>_<config>)
  feat_tag=espnet_ssl_$(basename "$(dirname "${ssl_ckpt:-none/none}")")_l${ssl_layer}
elif [ "${feature_type}" = phone_posterior ]; then  # named by the classifier's dir
  [ -n "${ssl_ckpt}" ] || ssl_ckpt=${expdir}/phone_classifier/model.pth
  feat_tag=phone_posterior_$(basename "$(dirname "${ssl_ckpt}")")
fi
feat_tag+=_${frame_rate_hz}hz
km_tag=${feat_tag}_km${n_clusters}
case "${unit_codebook}" in
  kmeans) ;;
  argmax) km_tag=${feat_tag}_argmax ;;
  *) die "--unit_codebook must be kmeans or argmax, got ${unit_codebook}" ;;
esac
[ "${kmeans_max_frames}" = 100000 ] || km_tag+=_kmf${kmeans_max_frames}
if [ -z "${unit_tag}" ]; then
  [ -z "${kmeans_dir}" ] || die "--kmeans_dir ${kmeans_dir} needs --unit_tag (a name for units from that k-means)"
  unit_tag=${km_tag}
  [ "${dedup}" = false ] || unit_tag+=_dedup
fi
bpe_tag=${bpe_type}${nbpe}
if [ -z "${corpus_tag}" ]; then
  corpus_tag=${unit_tag}_${bpe_tag}
  [ "${corpus_kinds}" = "speech text s2t t2s" ] || corpus_tag+=_$(echo ${corpus_kinds} | tr ' ' '-')
  [ "${interleave}" = true ] || corpus_tag+=_nointer
fi
if [ -z "${lst_tag}" ] && [ -n "${lst_config}" ]; then
  lst_tag=$(basename "${lst_config}" .yaml)
  # shellcheck disable=SC2001
  [ -z "${lst_args}" ] || lst_tag+=$(echo "${lst_args}" | sed -e "s/--/\_/g" -e "s/[ |=/'\"]//g")
fi
raw_dir=${dumpdir}/raw                                  # /<set>
feats_dir=${dumpdir}/feats/${feat_tag}                  # /<set>
km_dir=${expdir}/kmeans_${km_tag}
[ -z "${kmeans_dir}" ] || km_dir=${kmeans_dir}
units_dir=${dumpdir}/units/${unit_tag}                  # /<set>
token_dir=data/token_list/${bpe_tag}_km${n_clusters}
# a token list records the k-means it was made with (lst/stage_io.py lineage): another codebook (one
# fitted elsewhere, or on SSL features) gets its own, so MFCC and HuBERT unit sets can share a recipe
if [ -n "${kmeans_dir}" ] || [ "${feature_type}" != mfcc ]; then token_dir=data/token_list/${bpe_tag}_${unit_tag}; fi
token_list=${token_dir}/tokens.txt
bpe_model=${token_dir}/bpe.model
corpus_dir=${dumpdir}/corpus/${corpus_tag}              # /<set>/seqs
# training corpus file: the config's train_corpus key (docs: paper-style documents drawn every epoch; seqs: pre-built)
train_corpus=seqs
doc_limit=${doc_max_len}
if [ -n "${lst_config}" ] && [ -f "${lst_config}" ]; then
  train_corpus=$(sed -n 's/^train_corpus: *\([a-z]*\).*/\1/p' "${lst_config}" | head -n 1)
  [ -n "${doc_limit}" ] || doc_limit=$(sed -n 's/^ *max_len: *\([0-9]*\).*/\1/p' "${lst_config}" | head -n 1)
fi
train_corpus=${train_corpus:-seqs}
doc_limit=${doc_limit:-2048}
case "${train_corpus}" in seqs|docs) ;; *) die "${lst_config}: train_corpus must be seqs or docs, got ${train_corpus}" ;; esac
stats_dir=${expdir}/lst_stats_${corpus_tag}
[ "${train_corpus}" = seqs ] || stats_dir+=_${train_corpus}
lst_exp=${expdir}/lst_${lst_tag}_${corpus_tag}
packed=${lst_exp}/packed.zip
if [ "${print_paths}" = true ]; then
  print_paths raw_dir feats_dir km_dir units_dir token_dir token_list bpe_model corpus_dir stats_dir \
    lst_exp packed unit_tag corpus_tag lst_tag feature_type frame_rate_hz ssl_ckpt ssl_layer n_clusters nbpe
  exit 0
fi
[ -n "${lst_config}" ] || die "--lst_config is required"

recipe_env
all_sets="${train_set} ${valid_set} ${test_sets}"

if run_stage 1; then
  stage_begin 1 "data preparation (local/data.sh ${local_data_opts})"
  # shellcheck disable=SC2086
  data_prep_stage "${local_data_opts}" ${all_sets}
  stage_end 1
fi

if run_stage 2; then
  stage_begin 2 "audio format -> ${raw_dir}"
  for dset in ${all_sets}; do
    require "data/${dset}/wav.scp" "stage 1 (data preparation)"
    ${train_cmd} "${raw_dir}/${dset}.log" ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" \
      --out_dir "${raw_dir}/${dset}" --nj "${nj}" || die "format_wav failed; see ${raw_dir}/${dset}.log"
    if [ "${word_aligner}" = pocketsphinx ]; then
      log "Forced alignment of ${dset} with pocketsphinx -> ${raw_dir}/${dset}/{word_ctm,phone_ctm}"
      ${python} -m lst.bin.ps_align --data_dir "${raw_dir}/${dset}" --out_word_ctm "${raw_dir}/${dset}/word_ctm" \
        --out_phone_ctm "${raw_dir}/${dset}/phone_ctm" || die "stage 2: pocketsphinx alignment of ${dset} failed"
    elif [ -n "${word_aligner}" ]; then
      log "Forced alignment of ${dset} with ${word_aligner} -> ${raw_dir}/${dset}/word_ctm"
      ${python} -m lst.bin.ctc_align align --model_dir "${word_aligner}" --data_dir "${raw_dir}/${dset}" \
        --out "${raw_dir}/${dset}/word_ctm"
    fi
  done
  stage_end 2
fi

if run_stage 3; then
  stage_begin 3 "${feature_type} features at ${frame_rate_hz} Hz -> ${feats_dir} (${nj} jobs)"
  case "${feature_type}" in  # the feature model's options (phone posteriors have no layer)
    mfcc) ssl_opts=() ;;
    phone_posterior) ssl_opts=(--ssl_ckpt "${ssl_ckpt}") ;;
    *) ssl_opts=(--ssl_ckpt "${ssl_ckpt}" --ssl_layer "${ssl_layer}") ;;
  esac
  # supervised units: a frame phone classifier on the train set's alignments, trained once
  if [ "${feature_type}" = phone_posterior ] && [ ! -f "${ssl_ckpt}" ]; then
    clf_dir=$(dirname "${ssl_ckpt}")
    for dset in ${train_set} ${valid_set}; do
      require "${raw_dir}/${dset}/phone_ctm" "stage 2 with --word_aligner pocketsphinx (phone spans to learn from)"
    done
    log "phone classifier on ${train_set}'s pocketsphinx phone spans -> ${clf_dir} (log: ${clf_dir}.log)"
    # shellcheck disable=SC2086
    ${train_cmd} "${clf_dir}.log" ${python} -m lst.bin.train_phone_classifier \
      --wav_scp "${raw_dir}/${train_set}/wav.scp" --phone_ctm "${raw_dir}/${train_set}/phone_ctm" \
      --valid_wav_scp "${raw_dir}/${valid_set}/wav.scp" --valid_phone_ctm "${raw_dir}/${valid_set}/phone_ctm" \
      --out_dir "${clf_dir}" ${phone_classifier_args} || die "stage 3: phone classifier failed; see ${clf_dir}.log"
    require "${ssl_ckpt}" "lst.bin.train_phone_classifier (its model.pth)"
  fi
  for dset in ${all_sets}; do
    require "${raw_dir}/${dset}/wav.scp" "stage 2 (audio format)"
    shard_run "${nj}" "${raw_dir}/${dset}" "wav.scp" "" "${feats_dir}/${dset}" dump_features \
      ${python} -m lst.bin.dump_features --wav_scp SHARD_IN/wav.scp --out_dir SHARD_OUT \
      --feature_type "${feature_type}" --frame_rate_hz "${frame_rate_hz}" --nj 1 "${ssl_opts[@]+"${ssl_opts[@]}"}"
  done
  stage_end 3
fi

if run_stage 4 && [ -n "${kmeans_dir}" ]; then
  stage_begin 4 "k-means fitted elsewhere: ${km_dir} (not refitted)"
  require "${km_dir}/km.pkl" "the k-means of --kmeans_dir"
  require "${km_dir}/km_info.json" "the k-means of --kmeans_dir (lst.bin.learn_kmeans writes km_info.json)"
  ${python} -c 'import json, sys
info = json.load(open(sys.argv[1] + "/km_info.json"))
want = {"feature_type": sys.argv[2], "frame_rate_hz": int(sys.argv[3]), "n_clusters": int(sys.argv[4])}
bad = ["%s=%s (this run: %s)" % (k, info.get(k), v) for k, v in want.items() if info.get(k) != v]
sys.exit(sys.argv[1] + "/km_info.json does not match this run: " + ", ".join(bad) if bad else 0)' \
    "${km_dir}" "${feature_type}" "${frame_rate_hz}" "${n_clusters}" || die "stage 4: --kmeans_dir does not fit these units"
  stage_end 4
elif run_stage 4; then
  codebook_opts="--n_clusters ${n_clusters}"
  [ "${unit_codebook}" = kmeans ] || codebook_opts="--codebook ${unit_codebook}"  # K: the feature dim
  stage_begin 4 "${unit_codebook} codebook (${codebook_opts}) on ${train_set} -> ${km_dir}"
  require "${feats_dir}/${train_set}/feats.scp" "stage 3 (features)"
  # shellcheck disable=SC2086
  ${train_cmd} "${km_dir}.log" ${python} -m lst.bin.learn_kmeans --feats_dir "${feats_dir}/${train_set}" \
    ${codebook_opts} --out_dir "${km_dir}" --max_frames "${kmeans_max_frames}" \
    || die "learn_kmeans failed; see ${km_dir}.log"
  save_command "${km_dir}"
  stage_end 4
fi

if run_stage 5; then
  stage_begin 5 "unit dump -> ${units_dir} (${nj} jobs)"
  require "${km_dir}/km.pkl" "stage 4 (k-means)"
  for dset in ${all_sets}; do
    require "${feats_dir}/${dset}/feats.scp" "stage 3 (features)"
    shard_run "${nj}" "${feats_dir}/${dset}" "feats.scp" "feat_info.json" "${units_dir}/${dset}" dump_units \
      ${python} -m lst.bin.dump_units --feats_dir SHARD_IN --km_dir "${km_dir}" --out_dir SHARD_OUT \
      --dedup "${dedup}" --nj 1
  done
  stage_end 5
fi

if run_stage 6; then
  stage_begin 6 "sentencepiece ${bpe_type} (${nbpe}${bpe_from:+, copied from ${bpe_from}}) + joint token list -> ${token_list}"
  require "${raw_dir}/${train_set}/text" "stage 2 (audio format)"
  require "${units_dir}/${train_set}/unit_info.json" "stage 5 (unit dump)"
  [ -z "${bpe_from}" ] || require "${bpe_from}" "--bpe_from (a trained sentencepiece model)"
  ${python} -m lst.bin.make_token_list --text "${raw_dir}/${train_set}/text" \
    --unit_info "${units_dir}/${train_set}/unit_info.json" --nbpe "${nbpe}" --bpe_type "${bpe_type}" \
    --bpe_prefix "${bpe_model%.model}" --token_list "${token_list}" ${bpe_from:+--bpe_from "${bpe_from}"}
  stage_end 6
fi

if run_stage 7; then
  stage_begin 7 "corpus build (${corpus_kinds}) -> ${corpus_dir} (${nj} jobs)"
  require "${bpe_model}" "stage 6 (BPE)"
  for dset in ${all_sets}; do
    require "${units_dir}/${dset}/units" "stage 5 (unit dump)"
    ctm=()
    [ -f "${raw_dir}/${dset}/word_ctm" ] && ctm=("${raw_dir}/${dset}/word_ctm")
    shard_run --sorted "seqs docs" "${nj}" "${units_dir}/${dset}" "units ${raw_dir}/${dset}/text ${ctm[*]+${ctm[*]}}" \
      "unit_info.json" "${corpus_dir}/${dset}" build_corpus \
      ${python} -m lst.bin.build_corpus --units SHARD_IN/units --unit_info SHARD_IN/unit_info.json \
      --text SHARD_IN/text --bpe_model "${bpe_model}" --kinds "${corpus_kinds}" --out SHARD_OUT/seqs \
      ${ctm[*]+--word_ctm SHARD_IN/word_ctm --docs_out SHARD_OUT/docs --max_len "${doc_limit}"}
    if [ ${#ctm[@]} -gt 0 ] && [ "${interleave}" = true ]; then
      # one job: the span lengths are drawn from one random stream over the whole set
      # shellcheck disable=SC2086
      ${python} -m lst.bin.build_interleaved --units "${units_dir}/${dset}/units" \
        --unit_info "${units_dir}/${dset}/unit_info.json" --word_ctm "${ctm[0]}" \
        --text "${raw_dir}/${dset}/text" --bpe_model "${bpe_model}" \
        --out "${corpus_dir}/${dset}/seqs.inter" ${interleave_opts}
      cat "${corpus_dir}/${dset}/seqs.inter" >> "${corpus_dir}/${dset}/seqs"
      LC_ALL=C sort -o "${corpus_dir}/${dset}/seqs" "${corpus_dir}/${dset}/seqs"  # byte order, as build_corpus sorts
      # the corpus marker (lst.stage_io) records seqs as build_corpus wrote it: re-record it
      [ ! -f "${corpus_dir}/${dset}/.done.json" ] || ${python} -m lst.bin.check_stage "${corpus_dir}/${dset}" --refresh \
        --add "${corpus_dir}/${dset}/seqs.inter" --made_by "stage 7 (corpus build)" || die "stage 7: ${corpus_dir}/${dset}"
    fi
  done
  stage_end 7
fi

train_data=(--train_data_path_and_name_and_type "${corpus_dir}/${train_set}/${train_corpus},seq,text"
            --valid_data_path_and_name_and_type "${corpus_dir}/${valid_set}/${train_corpus},seq,text")
if run_stage 8; then
  stage_begin 8 "collect stats on ${train_corpus} -> ${stats_dir} (log: ${stats_dir}/collect_stats.log)"
  require "${corpus_dir}/${train_set}/${train_corpus}" "stage 7 (corpus build; docs need word_ctm)"
  require "${corpus_dir}/${valid_set}/${train_corpus}" "stage 7 (corpus build; docs need word_ctm)"
  require "${token_list}" "stage 6 (token list)"
  save_command "${stats_dir}"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.lst_train --collect_stats true --config "${lst_config}" \
    --token_list "${token_list}" --ngpu 0 --num_workers 0 "${train_data[@]}" \
    --train_shape_file "${corpus_dir}/${train_set}/${train_corpus}" \
    --valid_shape_file "${corpus_dir}/${valid_set}/${train_corpus}" \
    --output_dir "${stats_dir}" ${collect_stats_args} 2>&1 | tee "${stats_dir}/collect_stats.log"
  stage_end 8
fi

if run_stage 9; then
  stage_begin 9 "training (${lst_config}) -> ${lst_exp} (log: ${lst_exp}/train.log)"
  require "${stats_dir}/train/seq_shape" "stage 8 (collect stats)"
  save_command "${lst_exp}"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.lst_train --config "${lst_config}" --token_list "${token_list}" \
    --ngpu 0 --num_workers 0 --resume true "${train_data[@]}" \
    --train_shape_file "${stats_dir}/train/seq_shape" --valid_shape_file "${stats_dir}/valid/seq_shape" \
    --output_dir "${lst_exp}" ${lst_args} 2>&1 | tee -a "${lst_exp}/train.log"
  stage_end 9
fi

if run_stage 10; then
  stage_begin 10 "evaluation on ${valid_set} ${test_sets} -> ${lst_exp}/RESULTS.md"
  require "${lst_exp}/${eval_model}" "stage 9 (training)"
  eval_data=()
  for dset in ${valid_set} ${test_sets}; do
    require "${corpus_dir}/${dset}/seqs" "stage 7 (corpus build)"
    eval_data+=(--data "${dset}=${corpus_dir}/${dset}/seqs")
  done
  ${python} -m lst.bin.evaluate --config "${lst_exp}/config.yaml" --model_file "${lst_exp}/${eval_model}" \
    "${eval_data[@]}" --results "${lst_exp}/RESULTS.md"
  stage_end 10
fi

if run_stage 11; then
  stage_begin 11 "pack ${lst_exp}/${eval_model} -> ${packed}"
  require "${lst_exp}/${eval_model}" "stage 9 (training)"
  require "${units_dir}/${train_set}/unit_info.json" "stage 5 (unit dump)"
  ${python} -m lst.bin.pack_model --config "${lst_exp}/config.yaml" --model_file "${lst_exp}/${eval_model}" \
    --bpe_model "${bpe_model}" --km_dir "${km_dir}" --unit_info "${units_dir}/${train_set}/unit_info.json" \
    --out "${packed}"
  stage_end 11
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
