#!/usr/bin/env bash
# HuBERT iterations on this machine's speech: AN4 train + the LJ Speech subset (1.36 h),
# MFCC k-means targets (iteration 0), a small HuBERT (about an hour per iteration on 2 CPU
# cores), layer-4 k-means units, and unit quality against frame-level phone labels: espeak-ng
# phoneme events on synth_eval (held-out voice), a pocketsphinx forced alignment on an4_test
# (AN4 test, real speech never trained on; local/data.sh stage 4).
# A second iteration:      ./run.sh --iterations "1 2"
# The GPU configuration:   ./run.sh --hubert_config conf/train_hubert_base_gpu.yaml --ngpu 1 \
#                              --ssl_layer 6 --n_clusters 500
set -euo pipefail

./hubert.sh \
    --train_set train \
    --valid_set valid \
    --eval_sets "synth_eval an4_test" \
    --n_clusters_it0 100 \
    --n_clusters 100 \
    --ssl_layer 4 \
    --hubert_config conf/train_hubert_small.yaml \
    "$@"
