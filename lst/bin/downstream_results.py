r"""Write the RESULTS.md of a downstream recipe (``lst.downstream.results``).

    python -m lst.bin.downstream_results asr_lm --exp exp/asr_lst --sets "valid test" --out exp/asr_lst/RESULTS.md
    python -m lst.bin.downstream_results asr_compare --expdir exp --models "token_lm lst" --sets "valid test" \
        --out exp/RESULTS.md
    python -m lst.bin.downstream_results tts --expdir exp --models "token_lm lst" --sets "test" --out exp/RESULTS.md
"""
import argparse
import sys

from lst.downstream.results import asr_compare, asr_lm, tts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("asr_lm")
    s.add_argument("--exp", required=True)
    s.add_argument("--sets", required=True)
    s.add_argument("--out", required=True)
    for name in ("asr_compare", "tts"):
        s = sub.add_parser(name)
        s.add_argument("--expdir", required=True)
        s.add_argument("--models", required=True)
        s.add_argument("--sets", required=True)
        s.add_argument("--out", required=True)
    args = p.parse_args(argv)
    {"asr_lm": asr_lm, "asr_compare": asr_compare, "tts": tts}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
