#!/usr/bin/env bash
# LJ Speech (one read-speech speaker; db.sh: the shared 385-clip subset by default): the LST
# pipeline on MFCC units (50 Hz, K=100) + BPE text: speech, text, s2t and t2s sequences.
# Split (local/data.sh): train 325 / valid 20 / test 40 clips in id order. Its packed models
# are what ../tts1 fine-tunes (tts1's stage 0 runs this recipe in a private copy).
# Pass any lst.sh option after, e.g. ./run.sh --stage 5 --stop_stage 6
# Supervised phone units instead of MFCC (a phone classifier on pocketsphinx alignments, trained in
# stage 3; each frame's most likely phone is its unit; ../tts1/RESULTS.md): ./run.sh --feature_type phone_posterior \
#   --word_aligner pocketsphinx --interleave_opts '--on_timing_error skip' --unit_codebook argmax \
#   --phone_classifier_args "--speed_perturb 0.9,1.0,1.1 --spec_augment true"
# (the later --feature_type overrides the one below; pocketsphinx skips clips with out-of-dictionary words;
# without --unit_codebook argmax, k-means clusters the posteriors)
set -euo pipefail

lst_config=conf/train_lst_debug.yaml

./lst.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --feature_type mfcc \
    --frame_rate_hz 50 \
    --n_clusters 100 \
    --nbpe 200 \
    --corpus_kinds "speech text s2t t2s" \
    --lst_config "${lst_config}" \
    "$@"
