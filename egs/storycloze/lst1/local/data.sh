#!/usr/bin/env bash
# StoryCloze data preparation (stage 1 of lst.sh):
#   1. copy the StoryCloze csv files from the shared data dir into downloads/
#   2. speak the stories with espeak-ng (local/synth_stories.py): wavs in dump/synth/<set>/,
#      kaldi dirs data/{train,valid,test} with word_ctm (word timings from espeak-ng itself),
#      held-out labelled stories in data/eval_stories.jsonl (for the story-completion eval).
# Options (all passed on to synth_stories): --n_stories N --voices a,b --heldout_voices c
#   --rates 150,190 --n_valid_stories N --n_test_stories N --nj N
set -euo pipefail
. utils/lib.sh

# shared data: $LST_SHARED (set by path.sh), else <repo root>/../shared
if [ -z "${LST_SHARED:-}" ]; then
  LST_SHARED=$(cd "$(git rev-parse --show-toplevel 2>/dev/null || (cd ../../.. && pwd))/../shared" && pwd)
fi
src=${STORYCLOZE_DIR:-${LST_SHARED}/data/storycloze}

opts_begin
n_stories=100          # training stories spoken
n_valid_stories=20     # validation stories
n_test_stories=40      # test stories
voices="en-us,en-us+f3,en,en-gb-scotland+m3"  # espeak-ng training voices
heldout_voices="en-029+f4"  # voices used only for the test set
rates="150,190"        # speaking rates (words per minute)
nj=2                   # synthesis processes
help_message="Usage: $0 [options]   (StoryCloze data preparation, stage 1 of lst.sh)"
parse_options "$@"

if ! python3 -c "import ctypes; ctypes.CDLL('libespeak-ng.so.1')" 2>/dev/null; then
  log "Error: espeak-ng (libespeak-ng.so.1) is not installed. Install it with:"
  log "    sudo apt-get install -y espeak-ng"
  exit 1
fi

mkdir -p downloads
for f in cloze_val.csv cloze_test.csv; do
  if [ ! -f "downloads/${f}" ]; then
    [ -f "${src}/${f}" ] || { log "Error: ${src}/${f} not found (set STORYCLOZE_DIR or LST_SHARED)"; exit 1; }
    cp "${src}/${f}" downloads/
  fi
done

log "Speaking stories: ${n_stories} train stories x voices ${voices} x rates ${rates}; held-out voice(s) ${heldout_voices}"
python3 local/synth_stories.py --csv downloads/cloze_val.csv --out_dir data --wav_dir dump/synth \
  --eval_stories_out data/eval_stories.jsonl \
  --n_stories "${n_stories}" --n_valid_stories "${n_valid_stories}" --n_test_stories "${n_test_stories}" \
  --voices "${voices}" --heldout_voices "${heldout_voices}" --rates "${rates}" --nj "${nj}"
