#!/usr/bin/env bash
# CMU AN4 (real recorded speech: 948 train + 130 test utterances, 84 speakers; db.sh says where
# the corpus is). The LST pipeline on MFCC units (50 Hz, K=100) + BPE text: speech, text, s2t
# and t2s sequences. Sets (local/data.sh, as ESPnet's egs2/an4): train (848), dev (the first 100
# train utterances in sorted-id order), test (130). ../asr1 holds ESPnet's ASR baseline.
# AN4 has no word timings yet (issue 14), so training uses the pre-built sequences.
# Pass any lst.sh option after, e.g. ./run.sh --stage 5 --stop_stage 6
set -euo pipefail

lst_config=conf/train_lst_debug.yaml

./lst.sh \
    --train_set train \
    --valid_set dev \
    --test_sets "test" \
    --feature_type mfcc \
    --frame_rate_hz 50 \
    --n_clusters 100 \
    --nbpe 100 \
    --corpus_kinds "speech text s2t t2s" \
    --lst_config "${lst_config}" \
    "$@"
