#!/usr/bin/env bash
# LJ Speech TTS: text -> speech units (fine-tuned token baseline and LST, pretrained by stage 0
# in a private copy of ../lst1) -> waveform (the unit vocoder trained here on LJ train), scored by
# tts.sh stage 7, the independent recognizer (pocketsphinx): WER/CER of the original recordings,
# of resynthesis from reference units (the vocoder floor) and of each TTS system; stage 9 writes
# exp/RESULTS.md and exp/RESULTS.json. There is no LJ ESPnet ASR, so stage 8 (the ESPnet-ASR
# column, --asr_exp) is skipped unless one is given.
# Split: train 325 / valid 20 / test 40 clips (local/data.sh, in id order).
#   ./run.sh                       everything (tts.sh stages 0-9)
#   ./run.sh --models ""           only the vocoder floor: data, units (the LST package's k-means),
#                                  vocoder, resynthesis, scoring (tts.sh --vocoder_floor_only true)
#   ./run.sh --packages "exp/packed/token_lm_an4.zip exp/packed/lst_an4.zip" --lm_text_case lower
#                                  fine-tune given packages (here: the backbones pretrained on AN4 +
#                                  spoken/text stories by ../../an4/lst1/local/pretrain_backbones.sh)
# Other options go to tts.sh, e.g. ./run.sh --stage 5 --vocoder_steps 2000
# Deduplicated units (SpiritLM style; the paper's LST keeps repeats): pretrain with --pretrain_args "... --dedup true".
#   The models then generate one unit per phone-like run, the vocoder is trained on the units expanded by their
#   durations and keeps a duration model (lst/vocoder/duration.py) that sets each generated unit's frames;
#   the reference resynthesis uses the reference durations (RESULTS.md, twenty-sixth session).
# Does a fine-tuned model read the text? local/text_conditioning.sh (after stage 4) scores each set's t2s
# sequences with their own and with rotated transcripts: the speech NLL difference, in nats per unit.
set -euo pipefail

models="token_lm lst"
packages=""   # packed backbones to fine-tune instead (no pretraining here), e.g. ../../an4/lst1/exp/an4_backbones/*/packed.zip copies
tts_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --packages) packages=$2; shift 2 ;;
    *) tts_opts+=("$1"); shift ;;
  esac
done
pretrained=""; configs=""
for m in ${models:-lst}; do pretrained+=" exp/packed/${m}.zip"; configs+=" conf/train_${m}_debug.yaml"; done
[ -z "${packages}" ] || pretrained=" ${packages}"  # given packages: tts.sh stage 0 has nothing to make
# vocoder floor only: the LST package is pretrained for its k-means units, nothing is fine-tuned or decoded
floor=false
[ -z "${models}" ] && floor=true

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
    --vocoder_floor_only "${floor}" \
    "${tts_opts[@]}"
