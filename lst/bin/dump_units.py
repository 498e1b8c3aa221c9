r"""Map features to k-means unit ids, as Kaldi-style text ``utt u u u ...``.

    python -m lst.bin.dump_units --feats_dir dump/feats/test --km_dir exp/kmeans_500 \
        --out_dir dump/units/test [--dedup false|true] [--nj 4]

Writes ``units``, ``unit_info.json`` (unit_rate_hz, n_units, dedup, feature_type, ...),
``utt2num_frames`` (frames before dedup) and, with ``--dedup true``, ``durations``
(``utt d d d``: how many frames each deduplicated unit lasted), so that
``lst.units.kmeans.expand(units, durations)`` restores the frame-level sequence exactly.
The directory is written under a temporary name and swapped into place with its completion
marker ``.done.json`` (lst/stage_io.py) only when complete: a kill or a full disk leaves the
previous complete output (or none), never some lines beside an old ``unit_info.json``.
"""
import argparse
import json
import logging
import os

import kaldiio
from tqdm import tqdm

from lst.stage_io import StageError, lineage_of, merge_lineage, staged_dir
from lst.units.io import (SkipReport, ToolError, check_input_dir, format_ints, input_fingerprints,
                          ordered_map, read_kaldi_map, require_file, run_tool, setup_logging, str2bool)
from lst.units.kmeans import apply_kmeans, dedup, load_kmeans

logger = logging.getLogger("lst.dump_units")
TOOL = "dump_units"


def units_one(km, item):
    """Worker: unit ids of one utterance's features."""
    utt, rxfile = item
    try:
        feats = kaldiio.load_mat(rxfile)
    except Exception as e:  # a damaged ark entry skips one utterance, not the stage
        return utt, None, ("unreadable_features", f"{rxfile}: {type(e).__name__}: {e}")
    if feats.ndim != 2 or feats.shape[1] != km.cluster_centers_.shape[1]:
        return utt, None, ("bad_shape", f"{rxfile}: shape {feats.shape}")
    return utt, apply_kmeans(km, feats), None


def check_compatible(feat_info: dict, km_info: dict, feats_dir: str, km_dir: str) -> None:
    """Refuse to label features with a codebook learned on a different feature space."""
    for key in ("feature_type", "dim", "frame_rate_hz", "ssl_layer"):
        if feat_info.get(key) != km_info.get(key):
            raise ToolError(f"{TOOL}: {feats_dir} has {key}={feat_info.get(key)} but "
                            f"{km_dir} was learned on {key}={km_info.get(key)}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feats_dir", required=True)
    p.add_argument("--km_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--dedup", type=str2bool, default=False,
                   help="run-length dedup; also writes durations")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging(args.verbose)
    for name in ("feats.scp", "feat_info.json"):
        require_file(TOOL, os.path.join(args.feats_dir, name), "python -m lst.bin.dump_features")
    for name in ("km.pkl", "km_info.json"):
        require_file(TOOL, os.path.join(args.km_dir, name), "python -m lst.bin.learn_kmeans")
    check_input_dir(TOOL, args.feats_dir, "python -m lst.bin.dump_features")
    check_input_dir(TOOL, args.km_dir, "python -m lst.bin.learn_kmeans")
    inputs = input_fingerprints(feats=args.feats_dir, km=args.km_dir)
    try:
        lineage = merge_lineage({args.feats_dir: lineage_of(args.feats_dir), args.km_dir: lineage_of(args.km_dir)})
    except StageError as e:
        raise ToolError(f"{TOOL}: {e}") from None
    with open(os.path.join(args.feats_dir, "feat_info.json")) as f:
        feat_info = json.load(f)
    with open(os.path.join(args.km_dir, "km_info.json")) as f:
        km_info = json.load(f)
    check_compatible(feat_info, km_info, args.feats_dir, args.km_dir)
    km_path = os.path.join(args.km_dir, "km.pkl")

    items = read_kaldi_map(os.path.join(args.feats_dir, "feats.scp"))
    report = SkipReport(TOOL, logger)
    report.n_in = len(items)
    with staged_dir(args.out_dir, TOOL) as stage:  # a fresh directory: no stale durations
        out = lambda name: os.path.join(stage.path, name)  # noqa: E731
        results = ordered_map(units_one, items, args.nj, load_kmeans, (km_path,), chunksize=32)
        # Stream lines to disk: held in memory, LibriSpeech-960h units would be ~1 GB of text.
        with open(out("units"), "w") as units_f, open(out("utt2num_frames"), "w") as num_f, \
                open(out("durations") if args.dedup else os.devnull, "w") as dur_f:
            for utt, units, failure in tqdm(results, total=len(items), desc=TOOL, mininterval=5,
                                            disable=None):
                if failure is not None:
                    report.skip(utt, *failure)
                    continue
                num_f.write(f"{utt} {len(units)}\n")
                if args.dedup:
                    units, durations = dedup(units)
                    dur_f.write(f"{utt} {format_ints(durations)}\n")
                units_f.write(f"{utt} {format_ints(units)}\n")
                report.n_written += 1

        info = {
            "unit_rate_hz": feat_info["frame_rate_hz"],
            "n_units": km_info["n_clusters"],
            "dedup": args.dedup,
            "feature_type": feat_info["feature_type"],
            "km_dir": os.path.abspath(args.km_dir),
            "silence_units_file": os.path.abspath(os.path.join(args.km_dir, "silence_units.json")),
            "frame_convention": feat_info.get("frame_convention"),
        }
        # the units' source: which model and layer (absent for MFCC)
        info.update({k: feat_info[k] for k in ("ssl_ckpt", "ssl_layer", "ssl_upstream")
                     if k in feat_info})
        with open(out("unit_info.json"), "w") as f:
            json.dump(info, f, indent=2)
        report.finish()
        stage.complete(counts=report.counts(), params={"dedup": args.dedup, "n_units": info["n_units"]},
                       inputs=inputs, lineage=lineage)


if __name__ == "__main__":
    run_tool(main)
