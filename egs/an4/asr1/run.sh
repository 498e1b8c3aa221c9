#!/usr/bin/env bash
# CMU AN4 downstream ASR (948 + 130 real utterances, 84 speakers; db.sh says where the corpus is).
#  1. ESPnet's own ASR as ESPnet's egs2/an4/asr1 trains it (fbank, CTC/attention transformer,
#     BPE 30, speed perturbation 0.9/1.0/1.1, beam 10, CTC weight 0.3): local/espnet_asr.sh,
#     exp/asr_espnet_transformer_cpu_bpe30_sp/.
#  2. (--run_lst true) the token baseline and LST fine-tuned on AN4 units -> text through asr.sh
#     (stages 0-5 + the WER-vs-updates curve, stage 9), from exp/packed/{token_lm,lst}.zip.
#     --pack_backbones true (default) first packs any missing package from the finished runs of
#     the compute-controlled sweep in ${backbone_recipe} (read only; see RESULTS.md): the 256x4
#     token baseline and LST curriculum models trained on spoken ROCStories (espeak-ng) + text,
#     whose MFCC 25 Hz k-means-100 and BPE 2000 come with them. Another backbone: point
#     --backbone_recipe / --backbone_runs at it (a run dir holding packed.zip is copied as is).
#     The backbones pretrained on AN4 + stories (../lst1/local/pretrain_backbones.sh):
#       --backbone_recipe ../lst1 --backbone_runs "token_lm_an4:exp/an4_backbones/token_lm lst_an4:exp/an4_backbones/lst"
# Sets: train (848), dev (the first 100 AN4 train utterances, as ESPnet), test (130).
# Options: --espnet_opts "..." go to local/espnet_asr.sh, everything else to asr.sh.
set -euo pipefail

espnet_opts=""
run_lst=false
run_espnet_baseline=true
pack_backbones=true          # pack missing exp/packed/<name>.zip from ${backbone_recipe} (with --run_lst true)
backbone_recipe=../../rocstories/lst1  # the lst1 recipe holding the trained backbones (only read)
backbone_runs="token_lm:exp/sweep_f4e13/m/token_lm_flops lst:exp/sweep_f4e13/m/lst_curriculum_flops"  # <package name>:<run dir>
backbone_ckpt=4epoch.pth     # checkpoint of each run that is packed (the sweep's final one)
backbone_km=exp/kmeans_mfcc_25hz_km100          # k-means of the backbones' units
backbone_bpe=data/token_list/bpe2000_km100/bpe.model  # BPE model of the backbones' token list
backbone_unit_info=dump/units/mfcc_25hz_km100/train/unit_info.json  # unit settings of the backbones
asr_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --espnet_opts) espnet_opts=$2; shift 2 ;;
    --run_lst) run_lst=$2; shift 2 ;;
    --run_espnet_baseline) run_espnet_baseline=$2; shift 2 ;;
    --pack_backbones) pack_backbones=$2; shift 2 ;;
    --backbone_recipe) backbone_recipe=$2; shift 2 ;;
    --backbone_runs) backbone_runs=$2; shift 2 ;;
    --backbone_ckpt) backbone_ckpt=$2; shift 2 ;;
    --backbone_km) backbone_km=$2; shift 2 ;;
    --backbone_bpe) backbone_bpe=$2; shift 2 ;;
    --backbone_unit_info) backbone_unit_info=$2; shift 2 ;;
    --help|-h)  # list the options of both parts and run nothing
      echo "Usage: $0 [--espnet_opts \"...\"] [--run_espnet_baseline true|false] [--run_lst true|false] [asr.sh options]"
      echo "  --pack_backbones true|false (${pack_backbones}) --backbone_recipe DIR (${backbone_recipe})"
      echo "  --backbone_runs \"name:run_dir ...\" (${backbone_runs}) --backbone_ckpt (${backbone_ckpt})"
      echo "  --backbone_km, --backbone_bpe, --backbone_unit_info: paths inside --backbone_recipe"
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

if ${run_lst} && ${pack_backbones}; then
  # the backbones as packages (lst.sh stage 11's call), made once; the recipe is only read
  mkdir -p exp/packed
  for nr in ${backbone_runs}; do
    name=${nr%%:*}; run=${backbone_recipe}/${nr#*:}
    [ ! -f "exp/packed/${name}.zip" ] || continue
    if [ -f "${run}/packed.zip" ]; then  # already packed (../lst1/local/pretrain_backbones.sh)
      echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) copying ${run}/packed.zip -> exp/packed/${name}.zip"
      cp "${run}/packed.zip" "exp/packed/${name}.zip"
      continue
    fi
    echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) packing ${run}/${backbone_ckpt} -> exp/packed/${name}.zip"
    # shellcheck disable=SC1091
    (. ./path.sh && python3 -m lst.bin.pack_model --config "${run}/config.yaml" --model_file "${run}/${backbone_ckpt}" \
      --bpe_model "${backbone_recipe}/${backbone_bpe}" --km_dir "${backbone_recipe}/${backbone_km}" \
      --unit_info "${backbone_recipe}/${backbone_unit_info}" --out "exp/packed/${name}.zip")
  done
fi

packages=""  # one package per --backbone_runs name
for nr in ${backbone_runs}; do packages+=" exp/packed/${nr%%:*}.zip"; done
if ${run_lst}; then
  ./asr.sh \
      --train_set train \
      --valid_set dev \
      --test_sets "test" \
      --run_espnet false \
      --pretrained_model "${packages# }" \
      --finetune_config conf/finetune_asr.yaml \
      --lm_text_case lower \
      --beam_size 4 \
      --max_len 48 \
      --curve_sets "dev test" \
      "${asr_opts[@]}"
fi
