#!/usr/bin/env bash
# StoryCloze spoken stories: StoryCloze 2016 stories (../shared/data/storycloze) spoken by
# espeak-ng in several voices and rates, with exact word timings from the synthesizer, so the
# corpus stage (7) adds SpiritLM-style word-level interleaved sequences and aligned segments.
# Needs espeak-ng:  sudo apt-get install -y espeak-ng
# Size it through local/data.sh, e.g.
#   ./run.sh --local_data_opts "--n_stories 300 --rates 140,175,210"
# Pass any lst.sh option after, e.g. ./run.sh --stop_stage 7 (corpus only).
set -euo pipefail

lst_config=conf/train_lst.yaml

./lst.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --feature_type mfcc \
    --frame_rate_hz 25 \
    --n_clusters 100 \
    --nbpe 500 \
    --corpus_kinds "speech text s2t t2s" \
    --interleave true \
    --interleave_opts "--span_words 5,30 --seed 0" \
    --lst_config "${lst_config}" \
    "$@"
