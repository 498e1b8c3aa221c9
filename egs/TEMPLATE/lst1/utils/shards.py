#!/usr/bin/env python3
r"""Split a stage input into job shards and merge the shards' outputs (utils/lib.sh shard_run).

    utils/shards.py split --src dump/raw/train --files "wav.scp text" --copy "feat_info.json" \
        --nj 3 --out OUT.split3/in            # -> OUT.split3/in/{1,2,3}/
    utils/shards.py merge --nj 3 --shards OUT.split3/out --out OUT

split: the keys of --files (Kaldi maps, ``key value``: the first file's keys in its order, then
keys only the other files have) are cut into --nj contiguous pieces of as equal a size as
possible (Kaldi's split_scp.pl rule: the first L mod N pieces get one key more); every file is
filtered to each piece's keys (all lines of a key, so a CTM works too); --copy files are copied.

merge: the pieces' outputs, in job order, become one directory that is byte for byte what one
job over the whole input writes: ``*.ark`` files are concatenated and the ``*.scp`` entries
that point into them get the merged file name and their offsets moved; ``*.json`` files must
be identical in every shard and are copied; ``--sorted`` files (outputs that the tool sorts by
key, e.g. corpus ``seqs``) are merged by key; every other file is concatenated.

When the inputs carry completion markers (``.done.json``, lst.stage_io), the shards get
markers with the source's lineage, and the merged directory is written atomically with a
marker of its own (counts summed, lineage of the shards).
"""
import argparse
import hashlib
import heapq
import json
import os
import shutil
import sys
from pathlib import Path

try:
    from lst import stage_io
except ImportError:  # an lst without completion markers
    stage_io = None

MARKER = ".done.json"


def fail(msg: str) -> None:
    sys.exit(f"shards.py: {msg}")


def read_lines(path: Path):
    with open(path, encoding="utf-8") as f:
        return [line if line.endswith("\n") else line + "\n" for line in f if line.strip()]


def key_of(line: str) -> str:
    return line.split(maxsplit=1)[0]


def piece_sizes(n: int, nj: int):
    return [n // nj + (1 if j < n % nj else 0) for j in range(nj)]


def split(args) -> None:
    src, out = Path(args.src), Path(args.out)
    # a name is a file of --src; an entry with a "/" is a path of its own (e.g. the text of
    # another directory), kept under its base name
    files = [src / f if "/" not in f else Path(f) for f in args.files.split()]
    copies = [src / f if "/" not in f else Path(f) for f in args.copy.split()]
    if not files:
        fail("split needs --files")
    first = files[0]
    if not first.is_file():
        fail(f"{first} not found")
    lines = read_lines(first)
    others = {}
    for path in files[1:]:
        if not path.is_file():
            fail(f"{path} not found")
        others[path.name] = read_lines(path)
    # the pieces are cut from the union of the keys of all --files (first file's order, then
    # keys only the others have), so an utterance missing from one of them is still seen (and
    # counted as such) by exactly one job
    keys, seen = [], set()
    for part in [lines] + list(others.values()):
        for line in part:
            k = key_of(line)
            if k not in seen:
                seen.add(k)
                keys.append(k)
    if len(keys) < args.nj:
        fail(f"{first} has {len(keys)} keys, fewer than --nj {args.nj}")
    marker = stage_io.read_marker(src) if stage_io else None
    start = 0
    for j, size in enumerate(piece_sizes(len(keys), args.nj), 1):
        piece = set(keys[start:start + size])
        start += size
        d = out / str(j)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, part in [(first.name, lines)] + list(others.items()):
            (d / name).write_text("".join(line for line in part if key_of(line) in piece), encoding="utf-8")
        for path in copies:
            if path.is_file():
                shutil.copy(path, d / path.name)
        if marker is not None:
            stage_io.write_file_marker(d, "split", [p for p in d.iterdir() if p.name != MARKER],
                                       counts={"keys": size}, params={"job": j, "nj": args.nj},
                                       inputs={"src": marker["fingerprint"]}, lineage=marker.get("lineage"))


def move_ark_refs(line: str, shard: Path, out_name: str, offsets: dict) -> str:
    """``utt <shard>/<x>.ark:<offset>`` -> ``utt <out>/<x>.ark:<offset + bytes of earlier shards>``."""
    key, value = line.rstrip("\n").split(maxsplit=1)
    path, sep, offset = value.rpartition(":")
    ark = os.path.basename(path)
    if not sep or ark not in offsets or os.path.abspath(os.path.dirname(path)) != os.path.abspath(shard):
        return line
    new_dir = os.path.abspath(out_name) if os.path.isabs(path) else out_name
    return f"{key} {os.path.join(new_dir, ark)}:{int(offset) + offsets[ark]}\n"


def merge_into(target: Path, shards, out_name: str, sorted_files) -> dict:
    names = sorted({p.name for d in shards for p in d.iterdir() if p.is_file() and p.name != MARKER})
    subdirs = sorted({p.name for d in shards for p in d.iterdir() if p.is_dir()})
    if subdirs:
        fail(f"{shards[0]}: sub-directories ({', '.join(subdirs)}) cannot be merged")
    arks = [n for n in names if n.endswith(".ark")]
    base = {d: {} for d in shards}  # shard -> ark name -> offset of that shard's part
    for ark in arks:
        pos = 0
        with open(target / ark, "wb") as g:
            for d in shards:
                base[d][ark] = pos
                if (d / ark).is_file():
                    with open(d / ark, "rb") as f:
                        shutil.copyfileobj(f, g, 1 << 22)
                    pos += (d / ark).stat().st_size
    for name in names:
        if name in arks:
            continue
        present = [d for d in shards if (d / name).is_file()]
        if name.endswith(".json"):
            contents = {(d / name).read_bytes() for d in present}
            if len(present) != len(shards) or len(contents) != 1:
                fail(f"{name} differs between the shards of {shards[0].parent} (or is missing from some): "
                     "it cannot be merged")
            shutil.copy(present[0] / name, target / name)
            continue
        with open(target / name, "w", encoding="utf-8") as g:
            if name in sorted_files:  # the tool sorts by (key, rest): merge the sorted pieces the same way
                pieces = [read_lines(d / name) for d in present]
                g.writelines(heapq.merge(*pieces, key=lambda line: (key_of(line), line)))
                continue
            for d in present:
                for line in read_lines(d / name):
                    g.write(move_ark_refs(line, d, out_name, base[d]) if name.endswith(".scp") else line)
    return base


def merge(args) -> None:
    shards = [Path(args.shards) / str(j) for j in range(1, args.nj + 1)]
    for d in shards:
        if not d.is_dir():
            fail(f"{d} not found: job {d.name} did not write its output")
    sorted_files = set(args.sorted.split())
    out = Path(args.out)
    markers = [stage_io.check_stage(d, "its job") if stage_io and (d / MARKER).is_file() else None for d in shards]
    if stage_io is None or not any(markers):  # outputs without completion markers: write them as such
        tmp = out.parent / f".{out.name}.merging"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        merge_into(tmp, shards, args.out, sorted_files)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        return
    stage = markers[0]["stage"] if markers[0] else "merge"
    with stage_io.staged_dir(out, stage) as staged:
        merge_into(staged.path, shards, args.out, sorted_files)
        counts, lineage = {}, {}
        if all(markers):
            for m in markers:
                for k, v in m.get("counts", {}).items():
                    counts[k] = counts.get(k, 0) + v if isinstance(v, (int, float)) else v
            lineage = stage_io.merge_lineage({str(d): m.get("lineage", {}) for d, m in zip(shards, markers)})
        inputs = {"shards": hashlib.sha256(json.dumps([m and m["fingerprint"] for m in markers]).encode()).hexdigest()}
        params = dict(markers[0].get("params", {})) if markers[0] else {}  # the job count shapes nothing
        staged.complete(counts=counts, params=params, inputs=inputs, lineage=lineage)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("--src", required=True)
    s.add_argument("--files", required=True, help="Kaldi maps; the first decides the pieces")
    s.add_argument("--copy", default="", help="files copied into every piece")
    s.add_argument("--nj", type=int, required=True)
    s.add_argument("--out", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--nj", type=int, required=True)
    m.add_argument("--shards", required=True, help="directory holding the job outputs 1..nj")
    m.add_argument("--out", required=True)
    m.add_argument("--sorted", default="", help="files the tool sorts by key (merged by key)")
    args = p.parse_args(argv)
    if args.nj < 1:
        fail("--nj must be >= 1")
    try:
        split(args) if args.cmd == "split" else merge(args)
    except OSError as e:
        fail(f"{e.filename or ''}: {e.strerror or e}")
    except Exception as e:  # a StageError from lst.stage_io is one line already
        if stage_io and isinstance(e, stage_io.StageError):
            fail(str(e))
        raise


if __name__ == "__main__":
    main()
