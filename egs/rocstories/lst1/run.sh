#!/usr/bin/env bash
# ROCStories + LJ Speech: the compute-controlled comparison of issue 17 (token baseline vs LST).
# Text: the ROCStories pool + LJ Speech sentences; speech: ROCStories spoken by espeak-ng in the
# training voices x rates (lst.tts.voices), word timings from the synthesizer. The labelled Story
# Cloze stories, BLiMP and HellaSwag are held out and spoken in a voice and rate never trained on.
#   ./run.sh                                     # stages 1-12 at CPU size (README.md)
#   ./run.sh --stage 11 --stop_stage 11          # the four benchmarks only
#   ./run.sh --local_data_opts "--n_speech_stories 200" --stop_stage 7
# Stages: 1-5 lst.sh (data, audio, features, k-means, units); 6 BPE + token list on ALL training
# text (local/text_corpus.sh --step bpe, instead of lst.sh's transcript-only BPE); 7 lst.sh corpus
# + text-only sequences (local/text_corpus.sh --step append); 8-10 lst.sh (stats, one training run
# of --lst_config, evaluation); 11 benchmarks (local/benchmarks.sh); 12 the sweep (local/sweep.sh).
# Output paths come from lst.sh itself (--print_paths), so they follow its naming.
set -euo pipefail
. utils/lib.sh

opts_begin
stage=1                     # first stage to run
stop_stage=12               # last stage to run
nbpe=2000                   # sentencepiece vocabulary size (all training text, stage 6)
feature_type=mfcc           # lst.sh --feature_type (mfcc, ssl or espnet_ssl)
ssl_ckpt=""                 # lst.sh --ssl_ckpt: the SSL checkpoint of ssl / espnet_ssl features (e.g. a HuBERT of ../../an4/ssl1)
ssl_layer=9                 # lst.sh --ssl_layer
frame_rate_hz=25            # lst.sh --frame_rate_hz
n_clusters=100              # k-means codebook size K
nj=2                        # jobs of the data stages (cmd.sh)
local_data_opts=""          # options of local/data.sh (--n_speech_stories N --copies N ...)
lst_config=conf/train_lst.yaml  # training config of stages 8-10
lst_opts=""                 # more lst.sh options (e.g. --kmeans_dir DIR --unit_tag NAME: units from a k-means fitted elsewhere)
bpe_from=""                 # stage 6 copies this trained BPE model instead of training one (new units for the same backbones)
bench_opts=""               # options of local/benchmarks.sh (--n_items N --modes ...)
sweep_opts=""               # options of local/sweep.sh (--sizes ... --budget_epochs ...)
plot_dir=plots              # the patch-boundary picture (stage 11)
help_message="Usage: $0 [options]   (stages 1-12, see the top of this file)"
parse_options "$@"
. ./path.sh

ssl_opts=()  # the SSL checkpoint of the features, for lst.sh (stages 3-5) and the benchmarks (stage 11)
[ -z "${ssl_ckpt}" ] || ssl_opts=(--ssl_ckpt "${ssl_ckpt}" --ssl_layer "${ssl_layer}")

lst_sh() {  # lst.sh with this recipe's settings
  # shellcheck disable=SC2086
  ./lst.sh --train_set train --valid_set valid --test_sets test --feature_type "${feature_type}" \
    ${ssl_opts[@]+"${ssl_opts[@]}"} --frame_rate_hz "${frame_rate_hz}" --n_clusters "${n_clusters}" --nbpe "${nbpe}" --nj "${nj}" \
    --corpus_kinds "speech text s2t t2s" --interleave true --interleave_opts "--span_words 5,30 --seed 0" \
    --local_data_opts "${local_data_opts}" --lst_config "${lst_config}" ${lst_opts} "$@"
}
lst() {  # lst FROM TO: lst.sh stages FROM..TO within --stage/--stop_stage
  local a=$(( stage > $1 ? stage : $1 )) b=$(( stop_stage < $2 ? stop_stage : $2 ))
  [ "${a}" -le "${b}" ] || return 0
  lst_sh --stage "${a}" --stop_stage "${b}"
}
sel() { [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ]; }
# lst.sh names its outputs by their settings: km_dir, units_dir, token_list, bpe_model, corpus_dir, stats_dir, ...
eval "$(lst_sh --print_paths true)"
paths="--units_dir ${units_dir} --token_list ${token_list} --bpe_model ${bpe_model} --corpus_dir ${corpus_dir}"

lst 1 5
if sel 6; then
  # shellcheck disable=SC2086
  local/text_corpus.sh --step bpe --nbpe "${nbpe}" --bpe_from "${bpe_from}" ${paths}
fi
lst 7 7
if sel 7; then
  # shellcheck disable=SC2086
  local/text_corpus.sh --step append ${paths}
fi
lst 8 10
if sel 11; then
  # shellcheck disable=SC2086
  local/benchmarks.sh --km_dir "${km_dir}" --bpe_model "${bpe_model}" --feature_type "${feature_type}" \
    --frame_rate_hz "${frame_rate_hz}" --nj "${nj}" ${ssl_opts[@]+"${ssl_opts[@]}"} ${bench_opts}
  log "Patch boundaries of a held-out utterance (held-out voice) -> ${plot_dir}/patches_heldout.png"
  python3 -m lst.bin.plot_patches --wav_scp "${raw_dir}/test/wav.scp" --units "${units_dir}/test/units" \
    --unit_info "${units_dir}/test/unit_info.json" --word_ctm "${raw_dir}/test/word_ctm" \
    --silence_units_file "${km_dir}/silence_units.json" --out "${plot_dir}/patches_heldout.png"
fi
if sel 12; then
  # shellcheck disable=SC2086
  local/sweep.sh --token_list "${token_list}" --corpus_dir "${corpus_dir}" --stats_dir "${stats_dir}" \
    --silence_units_file "${km_dir}/silence_units.json" ${sweep_opts}
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
