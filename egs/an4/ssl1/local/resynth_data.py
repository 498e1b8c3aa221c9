#!/usr/bin/env python3
"""Data of the resynthesis comparison (local/resynth.sh, run.sh stage 9).

    # the LJ Speech split of egs/ljspeech/tts1 (same rule), audio from this recipe's dumps
    python3 local/resynth_data.py split --lj_dir LJSpeech-1.1 --wav_scp dump/raw/train/wav.scp \
        dump/raw/valid/wav.scp --out_dir data/resynth_lj [--nvalid 20 --ntest 40 --max_utts 0]
    # the units of one split, gathered from a unit set's dumps (HuBERT's train + valid)
    python3 local/resynth_data.py units --ids data/resynth_lj/test/text \
        --units_dirs dump/units/it0_mfcc_km100/train dump/units/it0_mfcc_km100/valid \
        --out_dir dump/resynth/it0_mfcc_km100/test
    # unit rate and count of each unit set ("rate n_units" per file); all rates must agree
    python3 local/resynth_data.py unit_params --unit_info A/unit_info.json B/unit_info.json

``split`` applies egs/ljspeech/tts1's rule (local/data_prep.py): the clips present in
``wavs/`` (.wav or .flac) with a non-empty normalized text, in id order (the first
``--max_utts`` if > 0); the last ``--ntest`` are test, the ``--nvalid`` before them valid
(not written: unused here), the rest train. On the shared 385-clip subset: train LJ001-0001 ..
LJ002-0140 (325), test LJ002-0161 .. 0200 (40). Ids get this recipe's prefix (``lj-``); the
audio is this recipe's 16 kHz copy (dump/raw), the text metadata.csv's normalized column through
``lst.downstream.recognizer.normalize_text`` (upper case, no punctuation), as tts1 writes it.
Writes ``<out_dir>/{train,test}/{wav.scp,text}``. A clip missing from the dumps, a split with
no clip or an id without units is an error naming the file and the id.
"""
import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Dict, List

from lst.data.kaldi_dir import DataDirError, read_kaldi_map


class ResynthDataError(Exception):
    """Bad input of stage 9 (the message names the file and the id)."""


@functools.lru_cache(maxsize=None)
def lj_data_prep():
    """egs/ljspeech/lst1/local/data_prep.py: LJ Speech's metadata reader and split, defined there
    once (loaded once per process: read_metadata, lj_split and lj_clips all use it)."""
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "ljspeech" / "lst1" / "local" / "data_prep.py"
    spec = importlib.util.spec_from_file_location("ljspeech_data_prep", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_metadata(path: Path) -> Dict[str, str]:
    """LJ Speech metadata.csv -> id -> normalized text (upper case, no punctuation)."""
    prep = lj_data_prep()
    try:
        return prep.read_metadata(path)
    except prep.PrepError as e:
        raise ResynthDataError(f"{e} (is --lj_dir an unpacked LJSpeech-1.1?)") from None


def lj_split(meta: Dict[str, str], clips, nvalid: int = 20, ntest: int = 40, max_utts: int = 0) -> Dict[str, List[str]]:
    """tts1's split (``split_ids`` of LJ Speech's data_prep.py)."""
    prep = lj_data_prep()
    try:
        return prep.split_ids(meta, clips, nvalid, ntest, max_utts)
    except prep.PrepError as e:
        raise ResynthDataError(str(e)) from None


def lj_clips(wav_dir: Path) -> List[str]:
    """Ids of the clips present in wavs/ (.wav or .flac)."""
    found = lj_data_prep().find_audio(wav_dir)
    if not found:
        raise ResynthDataError(f"{wav_dir}: no .wav or .flac clips")
    return sorted(found)


def read_maps(paths, allow_empty_value: bool = False) -> Dict[str, str]:
    """Several kaldi maps -> one (an id in two of them is an error naming both)."""
    out, where = {}, {}
    for p in paths:
        try:
            m = read_kaldi_map(p, allow_empty_value=allow_empty_value)
        except DataDirError as e:
            raise ResynthDataError(str(e)) from None
        for k, v in m.items():
            if k in out:
                raise ResynthDataError(f"{k}: in both {where[k]} and {p}")
            out[k], where[k] = v, p
    return out


def write_split(out_dir: Path, ids: List[str], prefix: str, wavs: Dict[str, str], meta: Dict[str, str],
                wav_files) -> None:
    missing = [u for u in ids if prefix + u not in wavs]
    if missing:
        raise ResynthDataError(f"{prefix}{missing[0]} (and {len(missing) - 1} more): not in "
                               f"{' / '.join(map(str, wav_files))} (this recipe's audio, stage 2)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "wav.scp", "w") as w, open(out_dir / "text", "w") as t:
        for u in ids:
            w.write(f"{prefix}{u} {wavs[prefix + u]}\n")
            t.write(f"{prefix}{u} {meta[u]}\n")


def cmd_split(args) -> None:
    lj = Path(args.lj_dir)
    meta = read_metadata(lj / "metadata.csv")
    sets = lj_split(meta, lj_clips(lj / "wavs"), args.nvalid, args.ntest, args.max_utts)
    wavs = read_maps(args.wav_scp)
    for name in ("train", "test"):
        write_split(Path(args.out_dir) / name, sets[name], args.id_prefix, wavs, meta, args.wav_scp)
    print(" ".join(f"{k}={len(v)} ({v[0]}..{v[-1]})" if v else f"{k}=0" for k, v in sets.items()))


def gather_units(ids: List[str], units: Dict[str, str], where: str) -> List[str]:
    """The units lines of ids, in ids' order; a missing or empty one is an error naming it."""
    if not ids:
        raise ResynthDataError("empty split: no utterance ids")
    lines = []
    for u in ids:
        if u not in units:
            raise ResynthDataError(f"{u}: no units in {where}")
        if not units[u].split():
            raise ResynthDataError(f"{u}: empty units in {where}")
        lines.append(f"{u} {units[u]}\n")
    return lines


def cmd_units(args) -> None:
    try:
        ids = list(read_kaldi_map(args.ids, allow_empty_value=True))
    except DataDirError as e:
        raise ResynthDataError(str(e)) from None
    if not ids:
        raise ResynthDataError(f"{args.ids}: empty split (no utterance ids)")
    files = [Path(d) / "units" for d in args.units_dirs]
    lines = gather_units(ids, read_maps(files, allow_empty_value=True), " / ".join(map(str, files)))
    infos = [json.loads(p.read_text()) for p in (Path(d) / "unit_info.json" for d in args.units_dirs) if p.is_file()]
    if not infos:
        raise ResynthDataError(f"no unit_info.json in {' / '.join(args.units_dirs)}")
    key = ("unit_rate_hz", "n_units", "km_dir")
    if any(tuple(i.get(k) for k in key) != tuple(infos[0].get(k) for k in key) for i in infos):
        raise ResynthDataError(f"{' / '.join(args.units_dirs)}: unit_info.json differ in {key} (not one unit set)")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "units").write_text("".join(lines))
    (out / "unit_info.json").write_text(json.dumps(infos[0], indent=2))
    print(f"{out / 'units'}: {len(lines)} utterances")


def unit_params(infos: Dict[str, Dict]) -> List[str]:
    """'rate n_units' of each unit_info; rates must agree and the units must be one per frame."""
    rates = {}
    out = []
    for path, info in infos.items():
        for k in ("unit_rate_hz", "n_units"):
            if k not in info:
                raise ResynthDataError(f"{path}: no {k}")
        if info.get("dedup"):
            raise ResynthDataError(f"{path}: deduplicated units; the vocoder needs one unit per frame")
        rates[path] = float(info["unit_rate_hz"])
        out.append(f"{rates[path]:g} {int(info['n_units'])}")
    if len(set(rates.values())) > 1:
        raise ResynthDataError("unit rates differ: " + ", ".join(f"{p}: {r:g} Hz" for p, r in rates.items()))
    return out


def cmd_unit_params(args) -> None:
    infos = {}
    for p in args.unit_info:
        if not Path(p).is_file():
            raise ResynthDataError(f"{p}: not found")
        infos[p] = json.loads(Path(p).read_text())
    print("\n".join(unit_params(infos)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("--lj_dir", required=True, help="LJSpeech-1.1 (metadata.csv, wavs/)")
    s.add_argument("--wav_scp", nargs="+", required=True, help="this recipe's audio of the LJ clips")
    s.add_argument("--out_dir", required=True)
    s.add_argument("--nvalid", type=int, default=20)
    s.add_argument("--ntest", type=int, default=40)
    s.add_argument("--max_utts", type=int, default=0, help=">0: the first N clips only (toy runs)")
    s.add_argument("--id_prefix", default="lj-", help="this recipe's prefix of LJ Speech ids")
    u = sub.add_parser("units")
    u.add_argument("--ids", required=True, help="kaldi file whose first column is the ids (text, wav.scp)")
    u.add_argument("--units_dirs", nargs="+", required=True, help="dump dirs with units + unit_info.json")
    u.add_argument("--out_dir", required=True)
    q = sub.add_parser("unit_params")
    q.add_argument("--unit_info", nargs="+", required=True)
    args = p.parse_args(argv)
    try:
        {"split": cmd_split, "units": cmd_units, "unit_params": cmd_unit_params}[args.cmd](args)
    except ResynthDataError as e:
        sys.exit(f"resynth_data.py {args.cmd}: {e}")


if __name__ == "__main__":
    main()
