#!/usr/bin/env python3
r"""Data of the units -> text ASR comparison (run.sh stage 7): subsets of a unit dump and its
transcripts, and the unit-independent unit_info of the shared token list.

    # AN4 utterances of one HuBERT set (the LJ Speech lj-* ids are left out):
    python3 local/units_asr_data.py subset --units_dir dump/units/it0_mfcc_km100/train \
        --text dump/raw/train/text --utt_regex '^an4-' --out_dir dump/units_asr/it0_mfcc_km100/train
    # transcripts only (what the BPE model is trained on):
    python3 local/units_asr_data.py subset --text dump/raw/train/text --utt_regex '^an4-' \
        --out_dir data/units_asr/train
    # one unit_info for the token list shared by every unit set (they must agree on n_units/rate):
    python3 local/units_asr_data.py shared_unit_info --unit_info a/unit_info.json b/unit_info.json \
        --out data/units_asr/unit_info/unit_info.json

``subset`` keeps the utterances whose id matches ``--utt_regex`` (re.search) and that are in
both the units and the text; one in only one of them is counted and logged, a set with no
match is an error naming the files. It writes ``out_dir/{units,text,unit_info.json}`` (text
alone without ``--units_dir``) and a completion marker (lst.stage_io) whose lineage is the
units' own (their k-means), so the corpus, the model package and ``asr_inference --units``
still refuse units from another codebook.

``check_shared`` (stage 8, before training) stops with an error when the shared token list was
last made (stage 7) for other unit sets, e.g. after a stage 7 call for a codebook of another size.

``espnet_src`` writes the source side of ESPnet's discrete-unit ASR (egs2 ``asr2``, trained
with ``lst.bin.espnet_mt_train``): ``out_dir/src_text`` with the units as words, consecutive
repeats merged by default (as ESPnet's asr2 and Chang et al. 2023 do), and with
``--token_list`` the source token list ``<blank> <unk> 0 .. K-1 <sos/eos>``. A unit id outside
the codebook is an error naming the file and utterance.

    python3 local/units_asr_data.py espnet_src --units_dir dump/units_asr/it0_mfcc_km100/train \
        --out_dir dump/units_asr/it0_mfcc_km100_espnet_dedup/train --token_list data/units_asr/src_tokens_100.txt

``shared_unit_info`` writes a unit_info without k-means lineage: the BPE model and token list
made from it hold only the transcripts and the unit count, the same for every unit set, so
the text side of the compared models is identical by construction.
"""
import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

STAGE = "units_asr_subset"


def select(ids: List[str], utt_regex: str) -> List[str]:
    """The ids ``re.search(utt_regex, id)`` matches, in their order."""
    pattern = re.compile(utt_regex)
    return [u for u in ids if pattern.search(u)]


def subset(units: Optional[Dict[str, str]], text: Dict[str, str], utt_regex: str
           ) -> Tuple[List[str], Dict[str, int]]:
    """Kept ids (text order) and the counts of what was left out.

    ``units`` None: transcripts only. A matching id in only one of units/text is counted
    (``only_in_units`` / ``only_in_text``), never silently dropped."""
    wanted_text = select(list(text), utt_regex)
    counts = {"in_text": len(text), "matching": len(wanted_text), "not_matching": len(text) - len(wanted_text)}
    if units is None:
        return wanted_text, counts
    wanted_units = set(select(list(units), utt_regex))
    kept = [u for u in wanted_text if u in wanted_units]
    counts["only_in_text"] = len(wanted_text) - len(kept)
    counts["only_in_units"] = len(wanted_units - set(wanted_text))
    return kept, counts


def shared_unit_info(infos: Dict[str, Dict]) -> Dict:
    """One unit_info for the token list of every unit set; they must agree on n_units and rate."""
    keys = ("n_units", "unit_rate_hz")
    first_name, first = next(iter(infos.items()))
    for name, info in infos.items():
        for k in keys:
            if k not in info:
                raise ValueError(f"{name}: no {k} (not a unit_info.json from dump_units)")
            if info[k] != first[k]:
                raise ValueError(f"{name}: {k} {info[k]} differs from {first_name}'s {first[k]}; the compared unit "
                                 f"sets must share one token list, so they need the same unit count and rate")
    return {"n_units": int(first["n_units"]), "unit_rate_hz": first["unit_rate_hz"], "dedup": False,
            "shared_by": sorted(infos)}


def cmd_subset(args) -> int:
    from lst.data.kaldi_dir import DataDirError, read_kaldi_map
    from lst.stage_io import StageError, atomic_write_file, mark_file_outputs, remove_marker

    out = Path(args.out_dir)
    src_units = Path(args.units_dir) / "units" if args.units_dir else None
    try:
        text = read_kaldi_map(args.text, allow_empty_value=True)
        units = read_kaldi_map(src_units, allow_empty_value=True) if src_units else None
        re.compile(args.utt_regex)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    except re.error as e:
        logging.error(f"--utt_regex {args.utt_regex!r}: {e}")
        return 1
    kept, counts = subset(units, text, args.utt_regex)
    for what in ("only_in_text", "only_in_units"):
        if counts.get(what):
            logging.warning(f"{out}: {counts[what]} utterances matching {args.utt_regex!r} are "
                            f"{what.replace('_', ' ')} ({args.text} vs {src_units}); left out")
    if not kept:
        logging.error(f"{args.text}{' + ' + str(src_units) if src_units else ''}: no utterance id matches "
                      f"{args.utt_regex!r} (in both files)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    remove_marker(out)
    files = [out / "text"]
    atomic_write_file(out / "text", lambda f: f.writelines(f"{u} {text[u]}\n" for u in kept), encoding="utf-8")
    inputs = {"text": args.text}
    if units is not None:
        info_src = Path(args.units_dir) / "unit_info.json"
        if not info_src.is_file():
            logging.error(f"{info_src} not found (made with the units by dump_units)")
            return 1
        atomic_write_file(out / "units", lambda f: f.writelines(f"{u} {units[u]}\n" for u in kept))
        atomic_write_file(out / "unit_info.json", lambda f: f.write(info_src.read_text()))
        files = [out / "units", out / "unit_info.json"] + files
        inputs["units"] = str(src_units)
    counts["kept"] = len(kept)
    try:
        mark_file_outputs(STAGE, files, inputs, counts=counts, params={"utt_regex": args.utt_regex})
    except StageError as e:
        logging.error(f"{out}: {e}")
        return 1
    logging.info(f"{out}: {len(kept)} utterances kept ({counts})")
    return 0


def unit_words(seq: List[int], dedup: bool) -> str:
    """The source sentence of one utterance: unit ids as words, repeats merged if ``dedup``."""
    if dedup:
        from lst.units.kmeans import dedup as run_length

        seq = run_length(seq)[0].tolist()
    return " ".join(str(u) for u in seq)


def src_token_list(n_units: int) -> List[str]:
    """ESPnet's token-list layout for the unit vocabulary."""
    return ["<blank>", "<unk>"] + [str(u) for u in range(n_units)] + ["<sos/eos>"]


def cmd_espnet_src(args) -> int:
    from lst.data.kaldi_dir import DataDirError, read_units
    from lst.stage_io import StageError, atomic_write_file, mark_file_outputs, remove_marker

    src = Path(args.units_dir)
    out = Path(args.out_dir)
    try:
        n_units = int(json.loads((src / "unit_info.json").read_text())["n_units"])
        units = read_units(src / "units", n_units)
    except (OSError, KeyError, ValueError, json.JSONDecodeError, DataDirError) as e:
        logging.error(f"espnet_src {src}: {type(e).__name__}: {e}")
        return 1
    empty = [u for u, seq in units.items() if not seq]
    if empty:
        logging.warning(f"{src / 'units'}: {len(empty)} utterances without units left out, e.g. {empty[:3]}")
    kept = [u for u, seq in units.items() if seq]
    out.mkdir(parents=True, exist_ok=True)
    remove_marker(out)
    lines = [f"{u} {unit_words(units[u], args.dedup)}\n" for u in kept]
    atomic_write_file(out / "src_text", lambda f: f.writelines(lines))
    files = [out / "src_text"]
    if args.token_list:
        Path(args.token_list).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_file(args.token_list, lambda f: f.writelines(t + "\n" for t in src_token_list(n_units)))
    n_in = sum(len(s) for s in units.values())
    n_out = sum(len(line.split()) - 1 for line in lines)
    counts = {"utterances": len(kept), "empty": len(empty), "units": n_in, "src_tokens": n_out}
    try:
        mark_file_outputs("units_asr_espnet_src", files, {"units": str(src / "units")}, counts=counts,
                          params={"dedup": args.dedup})
    except StageError as e:
        logging.error(f"{out}: {e}")
        return 1
    logging.info(f"{out}/src_text: {len(kept)} utterances, {n_in} units -> {n_out} source tokens (dedup {args.dedup})")
    return 0


def cmd_shared_unit_info(args) -> int:
    from lst.stage_io import atomic_write_file

    try:
        infos = {p: json.loads(Path(p).read_text()) for p in args.unit_info}
        shared = shared_unit_info(infos)
    except (OSError, json.JSONDecodeError, ValueError) as e:
        logging.error(f"shared_unit_info: {e}")
        return 1
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_file(args.out, lambda f: f.write(json.dumps(shared, indent=2) + "\n"))
    logging.info(f"{args.out}: {shared}")
    return 0


def check_shared(shared: Dict, unit_info_path: str, shared_path: str) -> None:
    """The shared token list (stage 7's last call) must have been made with this unit set: a later stage 7
    call for unit sets of another size replaces it, and stage 8 would then train on the wrong list."""
    if str(Path(unit_info_path)) not in {str(Path(p)) for p in shared.get("shared_by", [])}:
        raise ValueError(f"{unit_info_path} is not among the unit sets of the shared token list ({shared_path} was "
                         f"made for {shared.get('shared_by')}); run stage 7 with this unit set (--asr_unit_sets) first")


def cmd_check_shared(args) -> int:
    try:
        check_shared(json.loads(Path(args.shared).read_text()), args.unit_info, args.shared)
    except (OSError, json.JSONDecodeError, ValueError) as e:
        logging.error(f"check_shared: {e}")
        return 1
    return 0


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("subset", help="units + transcripts of the utterances whose id matches --utt_regex")
    s.add_argument("--units_dir", default=None, help="dump/units/<units>/<set> (units, unit_info.json); none: text only")
    s.add_argument("--text", required=True, help="kaldi text of the set")
    s.add_argument("--utt_regex", default="^an4-", help="ids to keep (re.search)")
    s.add_argument("--out_dir", required=True)
    e = sub.add_parser("espnet_src", help="source side (src_text, token list) of ESPnet's discrete-unit ASR")
    e.add_argument("--units_dir", required=True, help="dir with units + unit_info.json (a subset's out_dir)")
    e.add_argument("--out_dir", required=True)
    e.add_argument("--dedup", type=lambda v: {"true": True, "false": False}[v.lower()], default=True,
                   help="merge consecutive repeats (true/false)")
    e.add_argument("--token_list", default=None, help="also write the source token list here")
    c = sub.add_parser("check_shared", help="is this unit set one of those the shared token list was made for?")
    c.add_argument("--shared", required=True, help="data/units_asr/unit_info.json (stage 7)")
    c.add_argument("--unit_info", required=True, help="dump/units/<units>/<train set>/unit_info.json")
    u = sub.add_parser("shared_unit_info", help="unit_info (no k-means lineage) for the shared token list")
    u.add_argument("--unit_info", nargs="+", required=True)
    u.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (units_asr_data) %(levelname)s: %(message)s")
    commands = {"subset": cmd_subset, "espnet_src": cmd_espnet_src, "shared_unit_info": cmd_shared_unit_info,
                "check_shared": cmd_check_shared}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
