"""Check a stage output directory's completion marker (lst.stage_io) from a shell recipe.

    python -m lst.bin.check_stage DIR [--made_by CMD] [--require] [--verify_hash] [--refresh --add F]

Exit 0 when the directory is complete, 1 with one line naming the problem.
"""
import argparse
import logging
import sys

from lst.stage_io import MARKER, StageError, check_stage, refresh_marker


def main(argv=None) -> int:
    """``python -m lst.bin.check_stage DIR [--made_by CMD] [--require]``: check a stage output dir
    (for shell recipes): exit 0 when complete, 1 with one line naming the problem."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("directory")
    p.add_argument("--made_by", default="the stage that makes it")
    p.add_argument("--require", action="store_true", help="a missing marker is an error too")
    p.add_argument("--verify_hash", action="store_true", help="also compare sha256 sums (reads every file)")
    p.add_argument("--refresh", action="store_true",
                   help="re-record the marker's files (after the recipe extended them on purpose), then check")
    p.add_argument("--add", action="append", default=[], help="with --refresh: also list this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.refresh:
            refresh_marker(args.directory, args.add)
        marker = check_stage(args.directory, args.made_by, verify_hash=args.verify_hash)
    except StageError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    if marker is None and args.require:
        print(f"Error: {args.directory} has no completion marker {MARKER}: it is incomplete or was made by an "
              f"older lst; rerun {args.made_by}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
