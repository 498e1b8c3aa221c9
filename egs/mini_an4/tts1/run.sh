#!/usr/bin/env bash
# mini_an4 downstream TTS: fine-tune the pretrained token baseline and LST (the packages of
# ../asr1, made by stage 0 there or here) on text -> units, train the unit vocoder, synthesize
# the test set and score it with the independent recognizer (pocketsphinx, tts.sh stage 7) and,
# as a second column, ../asr1's ESPnet ASR (tts.sh stage 8; run ../asr1 first, at least stage 6).
# local/ is ../lst1/local (same data preparation, run here into data/).
# Units are sampled (top-k 10, fixed seed): greedy decoding of these small unit LMs loops on a
# silence unit until the length budget (1.5x the train set's 13 units per BPE token).
# Pass any tts.sh option after, e.g. ./run.sh --stage 6
set -euo pipefail

./tts.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --pretrained_model "../asr1/exp/packed/token_lm.zip ../asr1/exp/packed/lst.zip" \
    --pretrain_recipe ../lst1 \
    --pretrain_work ../asr1/exp/pretrain \
    --pretrain_configs "conf/train_token_lm_debug.yaml conf/train_lst_debug.yaml" \
    --finetune_config conf/finetune_tts.yaml \
    --max_units_per_token 20 \
    --inference_args "--sample --top_k 10 --seed 0" \
    --vocoder_steps 400 \
    --asr_exp ../asr1/exp/asr_espnet \
    "$@"
