r"""Kaldi text -> the same utterances as ARPAbet phone strings (the TTS front-end, lst/tts/g2p.py).

    python -m lst.bin.phonemize --text dump/raw/test/text --out dump/corpus/x/test/text [--dictionary my.dic]

Words the dictionary lacks keep their spelling; they are counted in the log (the most frequent
named) and in ``--out``'s ``.oov.json`` beside it. A missing, non-UTF-8 or damaged input stops with
one line naming the file (and line).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from lst.data.kaldi_dir import DataDirError, read_kaldi_map
from lst.stage_io import atomic_write_file, io_error_message
from lst.tts.g2p import CmuG2P, phonemize_lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, help="kaldi-style 'utt transcript'")
    p.add_argument("--out", required=True)
    p.add_argument("--dictionary", default=None, help="CMU-format dictionary (default: pocketsphinx's en-us)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (phonemize) %(levelname)s: %(message)s")
    try:
        items = read_kaldi_map(args.text, allow_empty_value=True)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    try:
        g2p = CmuG2P(args.dictionary)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        logging.error(f"--dictionary {args.dictionary or '(pocketsphinx en-us)'}: {e}")
        return 1
    lines, oov = phonemize_lines(g2p, items.items())
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_file(out, lambda f: f.writelines(f"{u} {t}\n" for u, t in lines))
        atomic_write_file(out.with_name(out.name + ".oov.json"), lambda f: f.write(json.dumps(
            {"n_utts": len(lines), "n_oov_tokens": sum(oov.values()), "oov": dict(sorted(
                oov.items(), key=lambda kv: (-kv[1], kv[0])))}, indent=2)))
    except OSError as e:
        logging.error(io_error_message(out, e))
        return 1
    top = ", ".join(f"{w} ({n})" for w, n in sorted(oov.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    logging.info(f"{args.text} -> {out}: {len(lines)} utterances; {sum(oov.values())} word tokens not in "
                 f"{g2p.path} kept as spelled" + (f" (e.g. {top})" if top else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
