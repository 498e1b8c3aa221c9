#!/usr/bin/env bash
# ROCStories + LJ Speech data preparation (stage 1 of lst.sh, called by ./run.sh):
#   1. copy ROCStories, LJ Speech metadata and the labelled Story Cloze csv files into downloads/
#   2. local/prepare_data.py: ROCStories spoken by espeak-ng in the training voices x rates
#      (lst.tts.voices) -> data/{train,valid}; held-out Story Cloze stories in the held-out
#      voice/rate -> data/test; text-only ROCStories + LJ Speech -> data/text_only/text;
#      hours / utterances / words -> data/corpus_stats.json
# Options: --n_speech_stories N --copies N --n_valid_stories N --n_test_stories N
#          --voices a,b --rates r1,r2 --text_sources rocstories,ljspeech --nj N
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

n_speech_stories=2000   # spoken train stories (-1: all 13.9k)
copies=1                # voice/rate renderings per spoken story
n_valid_stories=100
n_test_stories=100      # held-out Story Cloze stories spoken in the held-out voice (held-out NLL)
voices=""               # default: lst.tts.voices.TRAINING_VOICES
rates=""                # default: lst.tts.voices.TRAINING_RATES
text_sources=rocstories,ljspeech
nj=2
. utils/parse_options.sh

if [ -z "${LST_SHARED:-}" ]; then
  LST_SHARED=$(cd "$(git rev-parse --show-toplevel 2>/dev/null || (cd ../../.. && pwd))/../shared" && pwd)
fi
mkdir -p downloads
for f in rocstories/rocstories_pool.txt ljspeech/LJSpeech-1.1/metadata.csv storycloze/cloze_val.csv \
         storycloze/cloze2016_val.csv; do
  b=$(basename "${f}")
  if [ ! -f "downloads/${b}" ]; then
    [ -f "${LST_SHARED}/data/${f}" ] || { log "Error: ${LST_SHARED}/data/${f} not found (set LST_SHARED)"; exit 1; }
    cp "${LST_SHARED}/data/${f}" downloads/
  fi
done
opts=""
[ -n "${voices}" ] && opts+=" --voices ${voices}"
[ -n "${rates}" ] && opts+=" --rates ${rates}"
log "Speaking ${n_speech_stories} ROCStories x ${copies}; text only: ${text_sources}"
# shellcheck disable=SC2086
python3 local/prepare_data.py --rocstories downloads/rocstories_pool.txt \
  --ljspeech_metadata downloads/metadata.csv --storycloze downloads/cloze_val.csv downloads/cloze2016_val.csv \
  --out_dir data --wav_dir dump/synth --n_speech_stories "${n_speech_stories}" --copies "${copies}" \
  --n_valid_stories "${n_valid_stories}" --n_test_stories "${n_test_stories}" \
  --text_sources "${text_sources}" --nj "${nj}" ${opts}
