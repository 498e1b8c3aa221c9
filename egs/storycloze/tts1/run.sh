#!/usr/bin/env bash
# Spoken StoryCloze (espeak-ng) downstream TTS: fine-tune the packages of ../asr1 on text ->
# units (25 Hz), train the unit vocoder, synthesize the test stories, score them with the
# independent recognizer (pocketsphinx, tts.sh stage 7: the espeak-ng test audio itself, the
# reference-unit resynthesis and each system) and with ../asr1's ESPnet ASR as a second column
# (stage 8; run ../asr1 through stage 6 first); exp/RESULTS.md + exp/RESULTS.json (stage 9).
# The spoken corpus is ../asr1's (--src_data_dir), so it is synthesized once; local/ is ../lst1/local.
set -euo pipefail

./tts.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --src_data_dir ../asr1/data \
    --pretrained_model "../asr1/exp/packed/token_lm.zip ../asr1/exp/packed/lst.zip" \
    --pretrain_recipe ../lst1 \
    --pretrain_work ../asr1/exp/pretrain \
    --pretrain_configs "conf/compare_token_lm.yaml conf/compare_lst_static.yaml" \
    --pretrain_args "--lst_args '--max_epoch 5'" \
    --finetune_config conf/finetune_tts.yaml \
    --max_units_per_token 20 \
    --inference_args "--sample --top_k 10 --seed 0" \
    --vocoder_steps 600 \
    --asr_exp ../asr1/exp/asr_espnet \
    "$@"
