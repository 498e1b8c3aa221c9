r"""Learn a k-means codebook on a sample of frames, plus the silence-unit report.

    python -m lst.bin.learn_kmeans --feats_dir dump/feats/train --n_clusters 500 \
        --out_dir exp/kmeans_500 [--max_frames 100000] [--seed 0] [--num_threads 1] \
        [--silence_threshold_db 30] [--silence_min_fraction 0.7]

``--codebook argmax`` fits nothing: each frame's unit is its largest feature (for phone posteriors,
the most likely phone; ``lst.units.kmeans.ArgmaxCodebook``); K is the feature dimension (a
``--n_clusters`` that differs is refused).

Writes ``km.pkl`` (a joblib-saved sklearn MiniBatchKMeans or ArgmaxCodebook), ``km_info.json`` (clusters,
feature type, dim, frame rate, training frames, inertia) and ``silence_units.json``
(``silence_units``: cluster ids whose training frames are mostly silent, with the
per-cluster ``silence_fraction`` and ``frame_count``), under a temporary name swapped into
place with the completion marker ``.done.json`` (lst/stage_io.py) only when complete.
"""
import argparse
import json
import logging
import os
import time

import kaldiio
import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from lst.stage_io import staged_dir
from lst.units.io import (ToolError, check_input_dir, input_fingerprints, read_kaldi_map, require_file,
                          run_tool, setup_logging)
from lst.units.kmeans import ArgmaxCodebook, learn_kmeans, sample_frames, save_kmeans, select_frames, \
    silence_report

logger = logging.getLogger("lst.learn_kmeans")
TOOL = "learn_kmeans"
MADE_BY = "python -m lst.bin.dump_features"


def load_training_frames(feats_dir: str, max_frames: int, seed: int):
    """Sampled features and their energies relative to each utterance's loudest frame."""
    utt2num = [(u, int(n)) for u, n in read_kaldi_map(os.path.join(feats_dir, "utt2num_frames"))]
    chosen, _ = sample_frames(utt2num, max_frames, seed)
    feats_scp = dict(read_kaldi_map(os.path.join(feats_dir, "feats.scp")))
    energy_scp = dict(read_kaldi_map(os.path.join(feats_dir, "energy.scp")))
    feats, rel_energy = [], []
    for utt in chosen:
        if utt not in feats_scp or utt not in energy_scp:
            raise ToolError(f"{TOOL}: utterance {utt} is in utt2num_frames but not in "
                            f"{feats_dir}/feats.scp or energy.scp")
        try:
            f = kaldiio.load_mat(feats_scp[utt])
            e = kaldiio.load_mat(energy_scp[utt])
        except Exception as err:  # name the utterance and file, not a kaldiio traceback
            raise ToolError(f"{TOOL}: cannot read features of {utt} ({feats_scp[utt]}): "
                            f"{type(err).__name__}: {err}")
        feats.append(f)
        rel_energy.append(e - e.max())
    feats = np.concatenate(feats) if feats else np.zeros((0, 1), np.float32)
    rel_energy = np.concatenate(rel_energy) if rel_energy else np.zeros(0, np.float32)
    keep = select_frames(len(feats), max_frames, seed)
    return feats[keep], rel_energy[keep], len(chosen)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feats_dir", required=True)
    p.add_argument("--n_clusters", type=int, default=None,
                   help="codebook size K (required for kmeans; argmax: the feature dimension, checked when given)")
    p.add_argument("--codebook", choices=("kmeans", "argmax"), default="kmeans",
                   help="kmeans: fit MiniBatchKMeans; argmax: one-hot centroids, each frame's unit is its "
                        "largest feature (phone posteriors: the most likely phone); K = the feature dimension")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--max_frames", type=int, default=100000,
                   help="frames sampled for training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=10000)
    p.add_argument("--max_iter", type=int, default=100)
    p.add_argument("--num_threads", type=int, default=1,
                   help="OpenMP/BLAS threads for fitting (raise on an idle many-core machine)")
    p.add_argument("--silence_threshold_db", type=float, default=30.0,
                   help="a frame this many dB below its utterance's loudest frame is silent")
    p.add_argument("--silence_min_fraction", type=float, default=0.7,
                   help="a cluster is a silence unit when this fraction of its frames is silent")
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging(args.verbose)
    for name in ("feat_info.json", "utt2num_frames", "feats.scp", "energy.scp"):
        require_file(TOOL, os.path.join(args.feats_dir, name), MADE_BY)
    check_input_dir(TOOL, args.feats_dir, MADE_BY)
    if args.n_clusters is None and args.codebook == "kmeans":
        raise ToolError(f"{TOOL}: --n_clusters is required for --codebook kmeans")
    if (args.n_clusters is not None and args.n_clusters < 1) or args.max_frames < 1:
        raise ToolError(f"{TOOL}: --n_clusters {args.n_clusters} / --max_frames {args.max_frames}: "
                        "both must be >= 1")
    inputs = input_fingerprints(feats=args.feats_dir)
    with open(os.path.join(args.feats_dir, "feat_info.json")) as f:
        feat_info = json.load(f)

    if args.codebook == "argmax":
        args.n_clusters = feat_info["dim"] if args.n_clusters is None else args.n_clusters
        if args.n_clusters != feat_info["dim"]:
            raise ToolError(f"{TOOL}: --codebook argmax has one unit per feature dimension: --n_clusters must be "
                            f"{feat_info['dim']} (the dim of {args.feats_dir}/feat_info.json), got {args.n_clusters}")

    start = time.time()
    feats, rel_energy, n_utts = load_training_frames(args.feats_dir, args.max_frames, args.seed)
    if args.codebook == "kmeans" and len(feats) < args.n_clusters:
        raise ToolError(f"{TOOL}: only {len(feats)} frames in {args.feats_dir} for "
                        f"{args.n_clusters} clusters; use fewer clusters or more data")
    if args.codebook == "argmax":
        logger.info("%s: argmax codebook over %d dims (silence report on %d frames of %d utterances)",
                    TOOL, args.n_clusters, len(feats), n_utts)
        km = ArgmaxCodebook(args.n_clusters)
    else:
        logger.info("%s: training on %d frames from %d utterances", TOOL, len(feats), n_utts)
        km = learn_kmeans(feats, args.n_clusters, args.seed, args.batch_size, args.max_iter,
                          n_threads=args.num_threads)
    with threadpool_limits(limits=args.num_threads):
        labels = km.predict(feats)
        inertia = float(-km.score(feats) / len(feats))

    with staged_dir(args.out_dir, TOOL) as stage:
        save_kmeans(km, os.path.join(stage.path, "km.pkl"))
        report = silence_report(labels, rel_energy, args.n_clusters, args.silence_threshold_db,
                                args.silence_min_fraction)
        with open(os.path.join(stage.path, "silence_units.json"), "w") as f:
            json.dump(report, f, indent=1)
        info = {
            "n_clusters": args.n_clusters,
            "codebook": args.codebook,
            "feature_type": feat_info["feature_type"],
            "dim": feat_info["dim"],
            "frame_rate_hz": feat_info["frame_rate_hz"],
            "feats_dir": os.path.abspath(args.feats_dir),
            "n_train_frames": int(len(feats)),
            "n_train_utts": n_utts,
            "mean_sq_distance": inertia,
            "seed": args.seed,
            "sklearn_version": sklearn.__version__,
        }
        for key in ("ssl_ckpt", "ssl_layer", "ssl_upstream"):
            if key in feat_info:
                info[key] = feat_info[key]
        with open(os.path.join(stage.path, "km_info.json"), "w") as f:
            json.dump(info, f, indent=2)
        params = {k: info[k] for k in ("n_clusters", "n_train_frames", "seed")}
        params.update(codebook=args.codebook, max_frames=args.max_frames, batch_size=args.batch_size,
                      max_iter=args.max_iter, silence_threshold_db=args.silence_threshold_db,
                      silence_min_fraction=args.silence_min_fraction)
        stage.complete(counts={"in": n_utts, "frames": int(len(feats))}, params=params, inputs=inputs)
    logger.info("%s: %d clusters in %.1f s, mean squared distance %.3f, silence units %s",
                TOOL, args.n_clusters, time.time() - start, inertia, report["silence_units"])


if __name__ == "__main__":
    run_tool(main)
