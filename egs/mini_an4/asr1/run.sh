#!/usr/bin/env bash
# mini_an4 downstream ASR: fine-tune the pretrained token baseline and LST (packed by stage 0
# from a private copy of ../lst1 unless --pretrained_model already exists) on speech units ->
# text, decode greedy + beam, and compare with ESPnet's own ASR trained on the same 4 utterances.
# local/ is ../lst1/local (same data preparation, run here into data/).
# Pass any asr.sh option after, e.g. ./run.sh --stage 5 --stop_stage 5
set -euo pipefail

./asr.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --pretrained_model "exp/packed/token_lm.zip exp/packed/lst.zip" \
    --pretrain_recipe ../lst1 \
    --pretrain_configs "conf/train_token_lm_debug.yaml conf/train_lst_debug.yaml" \
    --finetune_config conf/finetune_asr.yaml \
    --espnet_asr_config conf/espnet_asr.yaml \
    --beam_size 4 \
    "$@"
