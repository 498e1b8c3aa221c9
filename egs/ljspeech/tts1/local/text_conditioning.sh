#!/usr/bin/env bash
# Does a fine-tuned TTS model use the text? Each set's t2s sequences are scored twice by
# lst.bin.evaluate (teacher forcing, no sampling): with their own transcripts, and with the
# transcripts rotated by one utterance in id order (every clip's units after another clip's text).
# The difference of the speech NLL (nats per unit, rotated minus own) is what the text tells the
# model about the units: 0 means it ignores the text. Unit accuracy cannot show this at 50 Hz,
# where "repeat the last unit" is right ~79 % of the time whatever the text.
#   local/text_conditioning.sh [--expdir exp] [--models "token_lm lst"] [--sets "valid test"]
# Needs tts.sh stages 2-4 in --expdir (units, t2s corpora, the fine-tuned models).
#   -> ${expdir}/text_conditioning/<m>/RESULTS.{md,json} (lst.bin.evaluate), ${expdir}/text_conditioning/summary.{md,json}
set -euo pipefail
. utils/lib.sh

opts_begin
expdir=exp             # tts.sh's --expdir (the fine-tuned models are ${expdir}/tts_<m>)
dumpdir=dump           # tts.sh's --dumpdir (units and t2s corpora)
models="token_lm lst"  # fine-tuned models
sets="valid test"      # sets scored
checkpoint=valid.loss.best.pth  # checkpoint of ${expdir}/tts_<m> scored
lm_text_case=keep      # tts.sh's --lm_text_case (lower: the t2s corpora were built from lower-cased transcripts)
text_frontend=words    # tts.sh's --text_frontend (phones: the t2s corpora were built from ARPAbet phone strings)
python=python3
parse_options "$@"
recipe_env
case "${text_frontend}" in words) suffix="" ;; phones) suffix=_phones ;;
  *) die "--text_frontend must be words or phones, got '${text_frontend}'" ;; esac
case "${lm_text_case}" in keep) ;; lower) suffix+=_lower ;; *) die "--lm_text_case must be keep or lower, got '${lm_text_case}'" ;; esac
out=${expdir}/text_conditioning

for m in ${models}; do
  ft=${expdir}/tts_${m}
  require "${ft}/${checkpoint}" "tts.sh stage 4 (fine-tuning) in ${expdir}"
  require "${expdir}/pretrained_${m}/bpe.model" "tts.sh stage 2 (unpacked package) in ${expdir}"
  data=()
  for dset in ${sets}; do
    units=${dumpdir}/units/pkg_${m}/${dset}
    own=${dumpdir}/corpus/pkg_${m}_t2s${suffix}/${dset}/seqs
    require "${own}" "tts.sh stage 3 (t2s corpus)"
    rot=${out}/${m}/${dset}_rotated
    mkdir -p "${rot}"
    # the transcripts as the model read them (tts.sh stage 3 keeps a transformed copy beside the corpus)
    text=${dumpdir}/raw/${dset}/text
    [ -z "${suffix}" ] || text=$(dirname "${own}")/text
    require "${text}" "tts.sh stage 3 (t2s corpus)"
    # utterance i gets the transcript of utterance i+1 (the last one the first's), in id order
    sort -k1,1 "${text}" | awk '
      { id[NR] = $1; $1 = ""; txt[NR] = substr($0, 2) }
      END { if (NR < 2) { print "needs >= 2 utterances to rotate transcripts" > "/dev/stderr"; exit 1 }
            for (i = 1; i <= NR; i++) print id[i], txt[i % NR + 1] }' > "${rot}/text" \
      || die "${text}: cannot rotate its transcripts"
    ${python} -m lst.bin.build_corpus --units "${units}/units" --unit_info "${units}/unit_info.json" \
      --text "${rot}/text" --bpe_model "${expdir}/pretrained_${m}/bpe.model" --kinds t2s --out "${rot}/seqs"
    data+=(--data "${dset}=${own}" --data "${dset}_rotated=${rot}/seqs")
  done
  log "${m}: speech NLL with own and rotated transcripts (${sets}) -> ${out}/${m}/RESULTS.md"
  ${python} -m lst.bin.evaluate --config "${ft}/config.yaml" --model_file "${ft}/${checkpoint}" "${data[@]}" \
    --results "${out}/${m}/RESULTS.md" --results_json "${out}/${m}/RESULTS.json" > /dev/null
done
${python} local/text_conditioning.py --out_dir "${out}" \
  --models "${models}" --sets "${sets}"
