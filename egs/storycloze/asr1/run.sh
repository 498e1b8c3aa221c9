#!/usr/bin/env bash
# Spoken StoryCloze (espeak-ng) downstream ASR: fine-tune the pretrained token baseline and
# LST (stage 0 pretrains them in a private copy of ../lst1 with its compare_* configs, max 5
# epochs, unless --pretrained_model exists) on units -> text, decode greedy + beam, and
# compare with ESPnet's own ASR on the same split. Needs espeak-ng (local/ is ../lst1/local).
# Size the corpus with --local_data_opts "--n_stories 100".
set -euo pipefail

./asr.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --local_data_opts "--n_stories 100" \
    --pretrained_model "exp/packed/token_lm.zip exp/packed/lst.zip" \
    --pretrain_recipe ../lst1 \
    --pretrain_configs "conf/compare_token_lm.yaml conf/compare_lst_static.yaml" \
    --pretrain_args "--lst_args '--max_epoch 5'" \
    --finetune_config conf/finetune_asr.yaml \
    --espnet_asr_config conf/espnet_asr.yaml \
    --beam_size 4 \
    --max_len 96 \
    "$@"
