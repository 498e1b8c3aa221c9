#!/usr/bin/env bash
# mini_an4: 7 real AN4 utterances (ESPnet's CI corpus). Runs the whole LST pipeline in
# minutes on a CPU. Pass any lst.sh option after, e.g. ./run.sh --stage 5 --stop_stage 6
set -euo pipefail

lst_config=conf/train_lst_debug.yaml

./lst.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --feature_type mfcc \
    --frame_rate_hz 50 \
    --n_clusters 32 \
    --nbpe 40 \
    --corpus_kinds "speech text s2t t2s" \
    --lst_config "${lst_config}" \
    "$@"
