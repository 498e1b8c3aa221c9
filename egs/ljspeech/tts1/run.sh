#!/usr/bin/env bash
# LJ Speech TTS: text -> speech units (fine-tuned token baseline and LST, pretrained by stage 0
# in a private copy of ../lst1) -> waveform (the unit vocoder trained here on LJ train), scored by
# the independent recognizer (pocketsphinx, local/score_pocketsphinx.sh): WER/CER of the original
# recordings, of resynthesis from reference units (the vocoder floor) and of each TTS system.
# Split: train 325 / valid 20 / test 40 clips (local/data.sh, in id order). There is no LJ ESPnet
# ASR, so tts.sh's stage 7 (ESPnet-ASR scoring) is skipped; stage 9 here is pocketsphinx.
#   ./run.sh                       everything (tts.sh stages 0-8, then scoring + RESULTS)
#   ./run.sh --models ""           only the vocoder floor: data, units, vocoder, resynthesis, scoring
# Other options go to tts.sh, e.g. ./run.sh --stage 5 --vocoder_steps 2000
set -euo pipefail

models="token_lm lst"
tts_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    *) tts_opts+=("$1"); shift ;;
  esac
done
pretrained=""; configs=""
for m in ${models:-lst}; do pretrained+=" exp/packed/${m}.zip"; configs+=" conf/train_${m}_debug.yaml"; done
skip="7"
# vocoder floor only: the LST package is pretrained for its k-means units, nothing is fine-tuned
# or decoded; local/score_pocketsphinx.sh resynthesizes the reference units
[ -z "${models}" ] && skip="3 4 6 7 8"

./tts.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --pretrained_model "${pretrained# }" \
    --pretrain_recipe ../lst1 \
    --pretrain_configs "${configs# }" \
    --finetune_config conf/finetune_tts.yaml \
    --max_units_per_token 20 \
    --inference_args "--sample --top_k 10 --seed 0" \
    --vocoder_steps 1500 \
    --skip_stages "${skip}" \
    "${tts_opts[@]}"

. ./path.sh
first=${models:-lst}
local/score_pocketsphinx.sh --models "${models}" --test_sets test --units_model "${first%% *}"
