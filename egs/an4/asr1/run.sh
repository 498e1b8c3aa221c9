#!/usr/bin/env bash
# CMU AN4 downstream ASR (948 + 130 real utterances, 84 speakers; db.sh says where the corpus is).
#  1. ESPnet's own ASR as ESPnet's egs2/an4/asr1 trains it (fbank, CTC/attention transformer,
#     BPE 30, speed perturbation 0.9/1.0/1.1, beam 10, CTC weight 0.3): local/espnet_asr.sh,
#     exp/asr_espnet_transformer_cpu_bpe30_sp/.
#  2. (--run_lst true) the token baseline and LST fine-tuned on AN4 units -> text through asr.sh
#     (needs packages pretrained on AN4 + text: --pretrained_model "a.zip b.zip").
# Sets: train (848), dev (the first 100 AN4 train utterances, as ESPnet), test (130).
# Options: --espnet_opts "..." go to local/espnet_asr.sh, everything else to asr.sh.
set -euo pipefail

espnet_opts=""
run_lst=false
run_espnet_baseline=true
asr_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --espnet_opts) espnet_opts=$2; shift 2 ;;
    --run_lst) run_lst=$2; shift 2 ;;
    --run_espnet_baseline) run_espnet_baseline=$2; shift 2 ;;
    --help|-h)  # list the options of both parts and run nothing
      echo "Usage: $0 [--espnet_opts \"...\"] [--run_espnet_baseline true|false] [--run_lst true|false] [asr.sh options]"
      echo "Options of local/espnet_asr.sh (pass them inside --espnet_opts):"; local/espnet_asr.sh --help || true
      echo "Options of asr.sh (with --run_lst true):"; ./asr.sh --help || true
      exit 0 ;;
    *) asr_opts+=("$1"); shift ;;
  esac
done

if ${run_espnet_baseline}; then
  # shellcheck disable=SC2086
  local/espnet_asr.sh \
      --train_set train \
      --valid_set dev \
      --test_sets "test" \
      --nbpe 30 \
      --speed_perturb_factors "0.9 1.0 1.1" \
      --asr_config conf/espnet_transformer_cpu.yaml \
      --beam_size 10 \
      --ctc_weight 0.3 \
      ${espnet_opts}
fi

if ${run_lst}; then
  ./asr.sh \
      --train_set train \
      --valid_set dev \
      --test_sets "test" \
      --run_espnet false \
      --finetune_config conf/finetune_asr.yaml \
      --beam_size 4 \
      "${asr_opts[@]}"
fi
