#!/usr/bin/env bash
# Units of this recipe's sets from a k-means model learned elsewhere (e.g. the one behind the
# speech-text LM backbones, egs/rocstories/lst1/exp/kmeans_mfcc_25hz_km100), so stages 7-8 can
# compare them with this recipe's unit sets (--asr_unit_sets NAME):
#
#   local/units_from_kmeans.sh --name backbone_mfcc_25hz_km100 \
#       --km_dir ../../rocstories/lst1/exp/kmeans_mfcc_25hz_km100 --sets "train valid an4_test"
#
# The features are extracted with the k-means model's own settings (km_info.json: feature type,
# frame rate; an SSL checkpoint and layer where it has them) -> dump/feats/<name>/<set>,
# dump/units/<name>/<set> (dump_units refuses features that do not match the codebook).
# A finished set is kept (its completion marker); --skip_done false redoes it.
set -euo pipefail
# shellcheck disable=SC1091
. utils/lib.sh

opts_begin
name=""                # unit set name (dump/units/<name>)
km_dir=""              # a learn_kmeans output dir (km.pkl, km_info.json)
sets="train valid an4_test"  # sets of dump/raw to turn into units
dumpdir=dump
nj=2
python=python3
skip_done=true
help_message="Usage: $0 --name NAME --km_dir DIR [--sets \"train valid an4_test\"]"
parse_options "$@"
# shellcheck disable=SC1091
. ./path.sh

[ -n "${name}" ] && [ -n "${km_dir}" ] || die "--name and --km_dir are required"
require "${km_dir}/km_info.json" "python -m lst.bin.learn_kmeans (a k-means model dir)"
read -r feature_type frame_rate ssl_opts < <(${python} -c '
import json, sys
k = json.load(open(sys.argv[1]))
opts = ""
if k.get("ssl_ckpt"):
    opts = "--ssl_ckpt %s --ssl_layer %s" % (k["ssl_ckpt"], k["ssl_layer"])
print(k["feature_type"], k["frame_rate_hz"], opts)' "${km_dir}/km_info.json")
log "units ${name}: ${feature_type} features at ${frame_rate} Hz ${ssl_opts} -> k-means ${km_dir}"
for dset in ${sets}; do
  require "${dumpdir}/raw/${dset}/wav.scp" "stage 2 (audio format)"
  feats=${dumpdir}/feats/${name}/${dset}
  units=${dumpdir}/units/${name}/${dset}
  if [ "${skip_done}" = true ] && [ -f "${units}/.done.json" ]; then log "${units} is complete: kept"; continue; fi
  # shellcheck disable=SC2086
  ${python} -m lst.bin.dump_features --wav_scp "${dumpdir}/raw/${dset}/wav.scp" --out_dir "${feats}" \
    --feature_type "${feature_type}" --frame_rate_hz "${frame_rate}" --nj "${nj}" ${ssl_opts}
  ${python} -m lst.bin.dump_units --feats_dir "${feats}" --km_dir "${km_dir}" --out_dir "${units}" --nj "${nj}"
done
log "Successfully finished. [elapsed=${SECONDS}s]"
