#!/usr/bin/env bash
# HuBERT pre-training iterations with ESPnet's SSL task, in the style of ESPnet's
# egs2/TEMPLATE/ssl1/hubert.sh. Called by egs/<corpus>/ssl1/run.sh.
#
#   stage 1: data prep (local/data.sh -> data/{train,valid} + eval sets)
#   stage 2: audio format (16 kHz mono PCM)                    -> dump/raw/<set>
#   stage 3: iteration-0 targets: MFCC k-means                 -> exp/kmeans_it0_mfcc_km<K0>, dump/units/it0_mfcc_km<K0>
#   stage 4: HuBERT training on the previous targets (ESPnet)  -> exp/hubert_it<i>_<tag>
#   stage 5: cluster layer <L> of that model (next targets)    -> exp/kmeans_it<i>_l<L>_km<K>, dump/units/it<i>_l<L>_km<K>
#            stages 4-5 repeat for every iteration in --iterations ("1", or "1 2")
#   stage 6: unit quality (PNMI, purities, units/s) of every unit set on --eval_sets with
#            frame-level phone labels (data/<set>/phone_ctm)   -> exp/unit_metrics/RESULTS.json (+ _table.md)
#            phone_ctm (made by local/data.sh): espeak-ng phoneme events for synthetic speech, a
#            forced alignment for recorded speech (python -m lst.bin.ps_align --out_phone_ctm)
# Every stage can be re-run on its own (--stage N --stop_stage N); training resumes from its
# last checkpoint. A stage whose input is missing stops and names the stage that makes it.
set -euo pipefail

# shellcheck disable=SC1091
. utils/lib.sh  # log, run_stage, require, stage_begin/stage_end

# General
stage=1
stop_stage=10000
nj=2
python=python3
dumpdir=dump
expdir=exp
local_data_opts=""
train_set=train
valid_set=valid
eval_sets=""           # sets with data/<set>/phone_ctm for stage 6 (e.g. synth_eval)
skip_done=true         # skip a set/codebook whose output dir is complete (.done.json); false: redo
# Iterations
iterations="1"         # "1 2" runs a second iteration on the first one's units
n_clusters_it0=100     # MFCC k-means clusters (iteration-0 targets)
n_clusters=100         # clusters of every HuBERT layer
ssl_layer=4            # layer clustered after each iteration (hidden_states index)
kmeans_max_frames=100000
# Training
hubert_config=conf/train_hubert_small.yaml
hubert_args=""         # extra options for espnet2 ssl_train, e.g. "--max_epoch 2"
hubert_tag=""          # name of the runs (exp/hubert_it<I>_<tag>); default: the config's name. When set,
                       # it is also part of the unit sets' names (it<I>_<tag>_l<L>_km<K>), so runs of
                       # other settings (e.g. --hubert_args "--max_epoch 72") never share a unit dump
ngpu=0
ckpt_name=valid.loss.best.pth
# Metrics
metrics_tag=""         # name of the RESULTS rows' source (default: the eval sets)

help_message=$(cat <<EOM
Usage: $0 [options]
  --stage / --stop_stage           which stages to run (1..6)
  --iterations "${iterations}"            HuBERT iterations (stages 4-5 loop over them)
  --n_clusters_it0 ${n_clusters_it0}  --n_clusters ${n_clusters}  --ssl_layer ${ssl_layer}
  --hubert_config FILE  --hubert_args "..."  --hubert_tag NAME  --ngpu ${ngpu}  --nj ${nj}
  --eval_sets "synth_eval"         sets with phone_ctm for unit metrics (stage 6)
EOM
)
# shellcheck disable=SC1091
. ./path.sh
. utils/parse_options.sh
[ $# -eq 0 ] || { log "Unexpected arguments: $*"; exit 1; }

done_dir() {  # done_dir DIR: true (and logged) when DIR holds a complete output to keep
  if [ "${skip_done}" = true ] && [ -f "$1/.done.json" ]; then log "$1 is complete: kept (--skip_done false redoes it)"; return 0; fi
  return 1
}

all_sets="${train_set} ${valid_set} ${eval_sets}"
units_tag=${hubert_tag:+_${hubert_tag}}  # empty for the config-named default runs
[ -n "${hubert_tag}" ] || hubert_tag=$(basename "${hubert_config}" .yaml)
it0_units=it0_mfcc_km${n_clusters_it0}
units_of_it() {  # units_of_it I: name of the unit set made from iteration I's model
  if [ "$1" -eq 0 ]; then echo "${it0_units}"; else echo "it$1${units_tag}_l${ssl_layer}_km${n_clusters}"; fi
}
hubert_exp() { echo "${expdir}/hubert_it$1_${hubert_tag}"; }

# units: features of every set with one extractor, one k-means learned on train, unit dumps
make_units() {  # make_units NAME FEATURE_OPTS... (features -> kmeans -> units for all sets)
  local name=$1 k=$2; shift 2
  for dset in ${all_sets}; do
    require "${dumpdir}/raw/${dset}/wav.scp" "stage 2 (audio format)"
    done_dir "${dumpdir}/feats/${name}/${dset}" && continue
    ${python} -m lst.bin.dump_features --wav_scp "${dumpdir}/raw/${dset}/wav.scp" \
      --out_dir "${dumpdir}/feats/${name}/${dset}" --frame_rate_hz 50 "$@"
  done
  done_dir "${expdir}/kmeans_${name}" || ${python} -m lst.bin.learn_kmeans \
    --feats_dir "${dumpdir}/feats/${name}/${train_set}" --n_clusters "${k}" \
    --out_dir "${expdir}/kmeans_${name}" --max_frames "${kmeans_max_frames}"
  for dset in ${all_sets}; do
    done_dir "${dumpdir}/units/${name}/${dset}" && continue
    ${python} -m lst.bin.dump_units --feats_dir "${dumpdir}/feats/${name}/${dset}" \
      --km_dir "${expdir}/kmeans_${name}" --out_dir "${dumpdir}/units/${name}/${dset}" --nj "${nj}"
  done
}

if run_stage 1; then
  stage_begin 1 "data preparation (local/data.sh ${local_data_opts})"
  # shellcheck disable=SC2086
  data_prep_stage "${local_data_opts}" ${all_sets}
  stage_end 1
fi

if run_stage 2; then
  stage_begin 2 "audio format -> ${dumpdir}/raw"
  for dset in ${all_sets}; do
    require "data/${dset}/wav.scp" "stage 1 (data preparation)"
    done_dir "${dumpdir}/raw/${dset}" && continue
    ${python} -m lst.bin.format_wav --wav_scp "data/${dset}/wav.scp" --out_dir "${dumpdir}/raw/${dset}" --nj "${nj}"
  done
  log "Training speech: $(awk '{s+=$2} END {printf "%.3f h, %d utterances", s/3600, NR}' "${dumpdir}/raw/${train_set}/utt2dur")"
  stage_end 2
fi

if run_stage 3; then
  stage_begin 3 "iteration-0 targets: MFCC k-means (${n_clusters_it0} clusters) -> ${dumpdir}/units/${it0_units}"
  make_units "${it0_units}" "${n_clusters_it0}" --feature_type mfcc --nj "${nj}"
  stage_end 3
fi

for it in ${iterations}; do
  prev_units=$(units_of_it $((it - 1)))
  hub_exp=$(hubert_exp "${it}")
  if run_stage 4; then
    stage_begin 4 "HuBERT iteration ${it} on ${prev_units} targets -> ${hub_exp}"
    for dset in ${train_set} ${valid_set}; do
      require "${dumpdir}/units/${prev_units}/${dset}/units" "stage $([ "${it}" -eq 1 ] && echo 3 || echo 5) (targets of iteration $((it - 1)))"
      ${python} -m lst.bin.train_hubert prepare --raw_dir "${dumpdir}/raw/${dset}" \
        --units_dir "${dumpdir}/units/${prev_units}/${dset}" --out_dir "${hub_exp}/data/${dset}"
    done
    tr=${hub_exp}/data/${train_set}
    va=${hub_exp}/data/${valid_set}
    log "Training log: ${hub_exp}/train.log (appended to, so a resumed run keeps the earlier epochs)"
    # shellcheck disable=SC2086
    ${python} -m lst.bin.train_hubert train --config "${hubert_config}" --output_dir "${hub_exp}" \
      --token_list "${tr}/token_list" --ngpu "${ngpu}" --resume true \
      --train_data_path_and_name_and_type "${tr}/wav.scp,speech,sound" \
      --train_data_path_and_name_and_type "${tr}/text,text,text_int" \
      --train_shape_file "${tr}/speech_shape" --train_shape_file "${tr}/text_shape" \
      --valid_data_path_and_name_and_type "${va}/wav.scp,speech,sound" \
      --valid_data_path_and_name_and_type "${va}/text,text,text_int" \
      --valid_shape_file "${va}/speech_shape" --valid_shape_file "${va}/text_shape" \
      ${hubert_args} >> "${hub_exp}/train.log" 2>&1 \
      || { log "Error: training failed; see ${hub_exp}/train.log"; tail -5 "${hub_exp}/train.log"; exit 1; }
    stage_end 4
  fi
  if run_stage 5; then
    units=$(units_of_it "${it}")
    require "${hub_exp}/${ckpt_name}" "stage 4 (HuBERT iteration ${it})"
    stage_begin 5 "layer ${ssl_layer} of ${hub_exp}/${ckpt_name} -> ${n_clusters} clusters -> ${dumpdir}/units/${units}"
    make_units "${units}" "${n_clusters}" --feature_type espnet_ssl \
      --ssl_ckpt "${hub_exp}/${ckpt_name}" --ssl_layer "${ssl_layer}" --nj "${nj}"
    stage_end 5
  fi
done

if run_stage 6; then
  [ -n "${eval_sets}" ] || { log "Error: stage 6 needs --eval_sets (sets with data/<set>/phone_ctm)"; exit 1; }
  sets=("${it0_units}")
  for it in ${iterations}; do sets+=("$(units_of_it "${it}")"); done
  stage_begin 6 "unit quality of ${sets[*]} on ${eval_sets}"
  for dset in ${eval_sets}; do
    require "data/${dset}/phone_ctm" "stage 1 (data preparation: phone_ctm)"
    for units in "${sets[@]}"; do
      require "${dumpdir}/units/${units}/${dset}/units" "stage 3 or 5 (units ${units})"
      ${python} -m lst.bin.unit_metrics --units_dir "${dumpdir}/units/${units}/${dset}" \
        --phone_ctm "data/${dset}/phone_ctm" --name "${units}" --eval_set "${dset}" \
        --out_json "${expdir}/unit_metrics/rows/${dset}/${units}.json"
    done
  done
  ${python} -m lst.bin.unit_metrics collect --in_dir "${expdir}/unit_metrics/rows" --out_json "${expdir}/unit_metrics/RESULTS.json" \
    --out_md "${expdir}/unit_metrics/RESULTS_table.md"
  log "Unit quality: ${expdir}/unit_metrics/RESULTS.json (copy the rows into RESULTS.json / RESULTS.md)"
  stage_end 6
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
