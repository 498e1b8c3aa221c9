#!/usr/bin/env bash
# ESPnet's own ASR on AN4 as ESPnet's egs2/an4/asr1 trains it (fbank, CTC/attention transformer,
# BPE 30, speed perturbation 0.9/1.0/1.1, beam 10, CTC weight 0.3, no LM), through the
# repository's wrappers (lst.bin.espnet_asr_train / espnet_asr_inference). Run from egs/an4/asr1.
#   stage 1: data/<set> (local/data.sh) -> 16 kHz PCM dump/raw/<set>
#   stage 2: speed perturbation of the train set                 -> dump/raw/<train>_sp<factors>
#   stage 3: BPE (sentencepiece unigram) on the train text        -> data/token_list/bpe_unigram<N>/
#   stage 4: collect stats + train (resumable)                    -> <asr_exp>/ (train.log, train_seconds)
#   stage 5: decode <valid> + <test_sets>, WER/CER                -> <asr_exp>/decode_<set>_<tag>/score.json
#   stage 6: rows {system, decode, set, wer, cer, params_m, train_s, rtf} -> exp/RESULTS.json, exp/RESULTS.md
# With --use_lm true, ESPnet's shallow fusion on top (ESPnet's published AN4 baseline has no LM):
#   stage 7: ESPnet RNN LM on the BPE pieces of <train_set>'s transcripts  -> <lm_exp>/
#   stage 8: decode <valid> at each --lm_weights, keep the lowest-WER weight (the smaller on a tie;
#            <asr_exp>/lm_weight_pick.json), decode <test_sets> with it, rows as stage 6
# The experiment dir is named by its settings: exp/asr_<config>_bpe<N>[_sp].
set -euo pipefail
. utils/lib.sh

opts_begin
stage=1                    # first stage to run
stop_stage=100             # last stage to run
python=python3             # the python that runs the tools
train_set=train            # training set (data/<set>)
valid_set=dev              # validation set
test_sets="test"           # decoded sets besides the validation set
nbpe=30                    # BPE (sentencepiece unigram) size
speed_perturb_factors="0.9 1.0 1.1"   # empty: no speed perturbation
asr_config=conf/espnet_transformer_cpu.yaml   # ESPnet ASR training config
asr_args=""                # extra options of the ESPnet trainer, e.g. --max_epoch=40
asr_exp=""                 # default: exp/asr_<config>_bpe<N>[_sp]
inference_model=valid.acc.ave.pth   # checkpoint that decodes
beam_size=10               # beam width
ctc_weight=0.3             # CTC weight in joint decoding
penalty=0                  # insertion bonus per output token in beam search (ESPnet's --penalty)
inference_args=""          # extra options of the ESPnet decoder
local_data_opts=""         # options of local/data.sh
use_lm=false               # stages 7-8: train an LM and decode with shallow fusion
lm_config=conf/espnet_lm_rnn.yaml   # ESPnet LM training config
lm_args=""                 # extra options of the ESPnet LM trainer
lm_exp=""                  # default: exp/lm_<config>_bpe<N>
lm_weights="0.1 0.2 0.3 0.5"        # LM weights tried on <valid_set> (stage 8)
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

sp_tag=""; [ -n "${speed_perturb_factors}" ] && sp_tag=_sp
[ -n "${asr_exp}" ] || asr_exp=exp/asr_$(basename "${asr_config}" .yaml)_bpe${nbpe}${sp_tag}
train_dump=dump/raw/${train_set}
[ -n "${speed_perturb_factors}" ] && train_dump=dump/raw/${train_set}_sp$(echo ${speed_perturb_factors} | tr ' ' '_')
bpedir=data/token_list/bpe_unigram${nbpe}
pen_tag=""; [ "${penalty}" = 0 ] || pen_tag=_pen${penalty}
decode_tag=beam${beam_size}_ctc${ctc_weight}${pen_tag}_$(basename "${inference_model}" .pth)
[ -n "${lm_exp}" ] || lm_exp=exp/lm_$(basename "${lm_config}" .yaml)_bpe${nbpe}
lm_model=${lm_exp}/valid.loss.best.pth

decode_set() {  # decode_set SET TAG [extra decoder options]: decode dump/raw/SET -> <asr_exp>/decode_SET_TAG, score it
  local dset=$1 tag=$2 dir=${asr_exp}/decode_$1_$2; shift 2
  log "decode ${dset} (${tag}) -> ${dir}"
  rm -rf "${dir}"
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_asr_inference --timing_out "${dir}/timing.json" \
    --asr_train_config "${asr_exp}/config.yaml" --asr_model_file "${asr_exp}/${inference_model}" \
    --data_path_and_name_and_type "dump/raw/${dset}/wav.scp,speech,sound" --key_file "dump/raw/${dset}/wav.scp" \
    --output_dir "${dir}" --ngpu 0 --batch_size 1 --beam_size "${beam_size}" \
    --ctc_weight "${ctc_weight}" --penalty "${penalty}" "$@" ${inference_args} > "${dir}.log" 2>&1 || die "decoding failed: see ${dir}.log"
  ${python} -m lst.bin.score_wer --ref "dump/raw/${dset}/text" --hyp "${dir}/1best_recog/text" \
    --out "${dir}/score.json"
  cat "${dir}/score.json"
}

bpe_text_shapes() {  # STATS_DIR: text_shape.bpe = ESPnet's text_shape with the BPE vocabulary size (train, valid)
  local stats=$1 n_tok d
  n_tok=$(wc -l < "${bpedir}/tokens.txt")
  for d in train valid; do
    awk -v N="${n_tok}" '{ print $0 "," N }' "${stats}/${d}/text_shape" > "${stats}/${d}/text_shape.bpe.tmp"
    mv "${stats}/${d}/text_shape.bpe.tmp" "${stats}/${d}/text_shape.bpe"
  done
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "stage 1: data preparation + 16 kHz PCM dump"
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    ${python} -m lst.bin.validate_data_dir "data/${dset}"
    ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" --out_dir "dump/raw/${dset}" --nj 1
  done
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ] && [ -n "${speed_perturb_factors}" ]; then
  log "stage 2: speed perturbation ${speed_perturb_factors} -> ${train_dump}"
  # shellcheck disable=SC2086
  ${python} local/speed_perturb.py "dump/raw/${train_set}" "${train_dump}" --factors ${speed_perturb_factors}
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  log "stage 3: BPE unigram ${nbpe} on dump/raw/${train_set}/text -> ${bpedir}"
  mkdir -p "${bpedir}"
  cut -d' ' -f2- "dump/raw/${train_set}/text" > "${bpedir}/train.txt"
  ${python} -c "import sentencepiece as spm, sys; spm.SentencePieceTrainer.train(input=sys.argv[1], \
model_prefix=sys.argv[2], vocab_size=int(sys.argv[3]), model_type='unigram', character_coverage=1.0, \
minloglevel=2)" "${bpedir}/train.txt" "${bpedir}/bpe" "${nbpe}"
  ${python} -m lst.bin.prepare_downstream espnet_token_list --bpe_model "${bpedir}/bpe.model" --out "${bpedir}/tokens.txt"
fi

common=(--use_preprocessor true --bpemodel "${bpedir}/bpe.model" --token_type bpe --token_list "${bpedir}/tokens.txt"
        --non_linguistic_symbols none --cleaner none --g2p none --frontend default --frontend_conf fs=16k
        --ngpu 0 --num_workers 0
        --train_data_path_and_name_and_type "${train_dump}/wav.scp,speech,sound"
        --train_data_path_and_name_and_type "${train_dump}/text,text,text"
        --valid_data_path_and_name_and_type "dump/raw/${valid_set}/wav.scp,speech,sound"
        --valid_data_path_and_name_and_type "dump/raw/${valid_set}/text,text,text")

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  mkdir -p "${asr_exp}"
  if [ ! -f "${asr_exp}/stats/train/feats_stats.npz" ]; then
    log "stage 4: collect stats -> ${asr_exp}/stats"
    ${python} -m lst.bin.espnet_asr_train --collect_stats true --config "${asr_config}" "${common[@]}" \
      --train_shape_file "${train_dump}/wav.scp" --valid_shape_file "dump/raw/${valid_set}/wav.scp" \
      --output_dir "${asr_exp}/stats" > "${asr_exp}/stats.log" 2>&1
    bpe_text_shapes "${asr_exp}/stats"
  fi
  log "stage 4: train ${asr_config} -> ${asr_exp} (log: ${asr_exp}/train.log; resumes from checkpoint.pth)"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_asr_train --config "${asr_config}" "${common[@]}" --resume true \
    --normalize global_mvn --normalize_conf "stats_file=${asr_exp}/stats/train/feats_stats.npz" \
    --train_shape_file "${asr_exp}/stats/train/speech_shape" --train_shape_file "${asr_exp}/stats/train/text_shape.bpe" \
    --valid_shape_file "${asr_exp}/stats/valid/speech_shape" --valid_shape_file "${asr_exp}/stats/valid/text_shape.bpe" \
    --output_dir "${asr_exp}" ${asr_args} >> "${asr_exp}/train.log" 2>&1
  # accumulated over resumed runs
  prev=$(cat "${asr_exp}/train_seconds" 2>/dev/null || echo 0)
  echo $(( prev + $(date +%s) - t0 )) > "${asr_exp}/train_seconds"
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  log "stage 5: decode ${valid_set} ${test_sets} (${decode_tag}, no LM)"
  for dset in ${valid_set} ${test_sets}; do
    decode_set "${dset}" "${decode_tag}" --lm_weight 0
  done
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  log "stage 6: results rows -> exp/RESULTS.json, exp/RESULTS.md"
  ${python} local/make_results.py --exp "${asr_exp}" --system espnet_asr --out_json exp/RESULTS.json --out_md exp/RESULTS.md
fi
if ${use_lm} && [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  lm_common=(--use_preprocessor true --bpemodel "${bpedir}/bpe.model" --token_type bpe
             --token_list "${bpedir}/tokens.txt" --non_linguistic_symbols none --cleaner none --g2p none
             --ngpu 0 --num_workers 0
             --train_data_path_and_name_and_type "dump/raw/${train_set}/text,text,text"
             --valid_data_path_and_name_and_type "dump/raw/${valid_set}/text,text,text")
  mkdir -p "${lm_exp}"
  if [ ! -f "${lm_exp}/stats/train/text_shape.bpe" ]; then
    log "stage 7: LM collect stats -> ${lm_exp}/stats"
    ${python} -m lst.bin.espnet_lm_train --collect_stats true --config "${lm_config}" "${lm_common[@]}" \
      --train_shape_file "dump/raw/${train_set}/text" --valid_shape_file "dump/raw/${valid_set}/text" \
      --output_dir "${lm_exp}/stats" > "${lm_exp}/stats.log" 2>&1 || die "LM stats failed: see ${lm_exp}/stats.log"
    bpe_text_shapes "${lm_exp}/stats"
  fi
  log "stage 7: train ${lm_config} -> ${lm_exp} (log: ${lm_exp}/train.log; resumes from checkpoint.pth)"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ${python} -m lst.bin.espnet_lm_train --config "${lm_config}" "${lm_common[@]}" --resume true \
    --train_shape_file "${lm_exp}/stats/train/text_shape.bpe" --valid_shape_file "${lm_exp}/stats/valid/text_shape.bpe" \
    --output_dir "${lm_exp}" ${lm_args} >> "${lm_exp}/train.log" 2>&1 || die "LM training failed: see ${lm_exp}/train.log"
  prev=$(cat "${lm_exp}/train_seconds" 2>/dev/null || echo 0)
  echo $(( prev + $(date +%s) - t0 )) > "${lm_exp}/train_seconds"
fi

if ${use_lm} && [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  [ -f "${lm_model}" ] || die "stage 8 needs the LM ${lm_model} (stage 7)"
  lm_opts=(--lm_train_config "${lm_exp}/config.yaml" --lm_file "${lm_model}")
  lm_tag() { echo "beam${beam_size}_ctc${ctc_weight}${pen_tag}_lm$1_$(basename "${inference_model}" .pth)"; }
  log "stage 8: LM weights ${lm_weights} on ${valid_set}"
  for w in ${lm_weights}; do
    decode_set "${valid_set}" "$(lm_tag "${w}")" --lm_weight "${w}" "${lm_opts[@]}"
  done
  scores=(); for w in ${lm_weights}; do scores+=("${w}=${asr_exp}/decode_${valid_set}_$(lm_tag "${w}")/score.json"); done
  best=$(${python} - "${asr_exp}/lm_weight_pick.json" "${valid_set}" "${scores[@]}" <<'PY'
import json, sys
from lst.stage_io import write_json_atomic
out, vset, pairs = sys.argv[1], sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
wers = {w: json.loads(open(path).read())["wer"] for w, path in pairs}
best = min(wers, key=lambda w: (wers[w], float(w)))  # lowest WER, the smaller weight on a tie
write_json_atomic(out, {"set": vset, "valid_wer": wers, "lm_weight": float(best)})
print(best)
PY
)
  log "stage 8: LM weight ${best} (lowest ${valid_set} WER) -> ${test_sets}"
  for dset in ${test_sets}; do
    decode_set "${dset}" "$(lm_tag "${best}")" --lm_weight "${best}" "${lm_opts[@]}"
  done
  ${python} local/make_results.py --exp "${asr_exp}" --system espnet_asr --out_json exp/RESULTS.json --out_md exp/RESULTS.md
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
