#!/usr/bin/env bash
# Text side of the ROCStories + LJ Speech corpus (called by ./run.sh):
#   local/text_corpus.sh --step bpe  --nbpe 2000   BPE + joint token list on ALL training text
#                                                   (spoken transcripts + text only: data/lm_text/text)
#                                                   at lst.sh's own token_list / bpe_model paths
#   local/text_corpus.sh --step append             add one text-only sequence per line of
#                                                   data/text_only/text to <corpus_dir>/train/seqs (kind "text")
#                                                   and, when it exists, to <corpus_dir>/train/docs: the paper's
#                                                   on-the-fly corpus (train_corpus: docs) is then the spoken
#                                                   documents plus the same text-only sequences, which the task
#                                                   passes through unchanged (lst.data.batch.DocumentPreprocessor)
# and prints the corpus size (speech hours / units / words, text words, sequences).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[0]##*/}) $*"; }

step=append
nbpe=2000
bpe_type=bpe
train_set=train
units_dir=""     # lst.sh's unit dir (./run.sh passes it; lst.sh --print_paths true)
token_list=""    # lst.sh's token list path
bpe_model=""     # lst.sh's BPE model path
corpus_dir=""    # lst.sh's corpus dir
bpe_from=""      # --step bpe: copy this trained sentencepiece model instead of training one (a backbone's, for new units)
. ./path.sh
. utils/parse_options.sh

if [ "${step}" = bpe ]; then
  for f in data/lm_text/text "${units_dir}/${train_set}/unit_info.json"; do
    [ -f "${f}" ] || { log "Error: ${f} not found (stages 1 and 5 of ./run.sh make it)"; exit 1; }
  done
  log "BPE (${bpe_type}, ${nbpe}) on data/lm_text/text ($(wc -l < data/lm_text/text) lines) -> ${token_list}"
  python3 -m lst.bin.make_token_list --text data/lm_text/text --unit_info "${units_dir}/${train_set}/unit_info.json" \
    --nbpe "${nbpe}" --bpe_type "${bpe_type}" --bpe_prefix "${bpe_model%.model}" --token_list "${token_list}" \
    ${bpe_from:+--bpe_from "${bpe_from}"}
  exit 0
fi
[ "${step}" = append ] || { log "Error: --step bpe or append"; exit 1; }
seqs=${corpus_dir}/${train_set}/seqs
for f in "${seqs}" "${bpe_model}" data/text_only/text; do
  [ -f "${f}" ] || { log "Error: ${f} not found (stage 7 / 6 / 1 of ./run.sh)"; exit 1; }
done
python3 - "${seqs}" "${bpe_model}" data/text_only/text "${units_dir}/${train_set}/units" data/corpus_stats.json <<'PY'
import json, sys
from pathlib import Path
import sentencepiece as spm
seqs, bpe, text, units, stats = sys.argv[1:6]
docs = Path(seqs).parent / "docs"
sp = spm.SentencePieceProcessor(model_file=bpe)
kept = [l for l in Path(seqs).read_text(encoding="utf-8").splitlines() if l and not l.startswith("text_text")]
n_tok = 0
new = []
for line in Path(text).read_text(encoding="utf-8").splitlines():
    utt, _, words = line.partition(" ")
    pieces = sp.encode(words, out_type=str)
    if pieces:
        n_tok += len(pieces)
        new.append(f"text_{utt} <t> {' '.join(pieces)}")
lines = sorted(kept + new)
Path(seqs).write_text("\n".join(lines) + "\n", encoding="utf-8")
if docs.exists():  # documents (spoken) + the text-only sequences; re-running replaces them (idempotent)
    kept_docs = [l for l in docs.read_text(encoding="utf-8").splitlines() if l and not l.startswith("text_text")]
    docs.write_text("\n".join(sorted(kept_docs + new)) + "\n", encoding="utf-8")
    print(f"text_corpus: {docs}: {len(kept_docs)} documents + {len(new)} text-only sequences")
n_units = sum(len(l.split()) - 1 for l in Path(units).read_text().splitlines() if l.strip())
st = json.loads(Path(stats).read_text()) if Path(stats).exists() else {}
st["corpus"] = {"sequences": len(lines), "text_only_sequences": len(new), "text_only_bpe_tokens": n_tok,
                "speech_units": n_units}
Path(stats).write_text(json.dumps(st, indent=1) + "\n")
tr = st.get("train", {})
print(f"text_corpus: {seqs}: {len(lines)} sequences ({len(new)} text-only, {n_tok} BPE tokens); speech train "
      f"{tr.get('hours', 0):.2f} h, {n_units} units, {tr.get('words', 0)} words; text-only "
      f"{st.get('text_only', {}).get('words', 0)} words")
PY
if [ -f "$(dirname "${seqs}")/.done.json" ]; then  # the corpus stage's completion marker: record the new size
  python3 -m lst.bin.check_stage "$(dirname "${seqs}")" --refresh
fi
