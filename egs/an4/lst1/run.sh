#!/usr/bin/env bash
# CMU AN4 (real recorded speech: 948 train + 130 test utterances, 84 speakers; db.sh says where
# the corpus is). The LST pipeline on MFCC units (50 Hz, K=100) + BPE text: speech, text, s2t
# and t2s sequences. Sets (local/data.sh, as ESPnet's egs2/an4): train (848), dev (the first 100
# train utterances in sorted-id order), test (130). ../asr1 holds ESPnet's ASR baseline.
# Word timings: stage 2 force-aligns every set with pocketsphinx (its en-us acoustic model and
# CMU dictionary; lst.bin.ps_align), writing dump/raw/<set>/word_ctm (+ phone_ctm), so stage 7
# adds word-level interleaved sequences and documents. RESULTS.md compares it with the
# character-CTC aligner (--word_aligner <ctc model dir>), which places words on real AN4 speech
# far worse (it is trained on synthetic speech only).
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
    --word_aligner pocketsphinx \
    --lst_config "${lst_config}" \
    "$@"
