r"""Extract frame features (MFCC, an SSL layer or phone posteriors) for k-means, as Kaldi ark/scp.

    python -m lst.bin.dump_features --wav_scp dump/raw/train/wav.scp \
        --out_dir dump/feats/train --feature_type mfcc|ssl|espnet_ssl|phone_posterior \
        [--ssl_ckpt hubert.pt --ssl_layer 6 --ssl_upstream hubert] \
        [--frame_rate_hz 50|25] [--nj 4]

``ssl`` reads a layer of an s3prl upstream checkpoint (fairseq HuBERT/WavLM/...);
``espnet_ssl`` one of a HuBERT trained in-recipe by lst.bin.train_hubert (its model file, with
ESPnet's ``config.yaml`` beside it); ``phone_posterior`` the frame phone posteriors of a
classifier trained on forced alignments by lst.bin.train_phone_classifier (``--ssl_ckpt`` its
model.pth; lst/units/phones.py).

Writes ``feats.ark/feats.scp`` (float32 [frames, dim]), ``energy.ark/energy.scp`` (per-frame
log energy in dB, for the silence report), ``utt2num_frames``, ``skipped`` and
``feat_info.json`` (feature_type, dim, frame_rate_hz, and the frame grid; see
lst.units.features for the exact frame-time convention). The directory is written under a
temporary name and swapped into place with its completion marker ``.done.json``
(lst/stage_io.py) only when complete.
"""
import argparse
import json
import logging
import os

import kaldiio
from tqdm import tqdm

from lst.audio import AudioError, load_audio
from lst.units.features import (FRAME_RATES_HZ, HOP, SAMPLE_RATE, WINDOW, FeatureError,
                                build_extractor, extract)
from lst.stage_io import staged_dir
from lst.units.io import (SkipReport, ToolError, check_input_dir, input_fingerprints, ordered_map,
                          read_kaldi_map, require_file, run_tool, setup_logging, write_kaldi_map)

logger = logging.getLogger("lst.dump_features")
TOOL = "dump_features"


def extract_one(job, item):
    """Worker: features of one utterance, or the reason it was skipped."""
    extractor, frame_rate_hz = job
    utt, source = item
    try:
        wav = load_audio(source, SAMPLE_RATE)
        feats, energy = extract(extractor, wav, frame_rate_hz)
    except AudioError as e:
        return utt, None, None, (e.reason, f"{e.path}: {e.detail}")
    except Exception as e:  # a model failure on one input must not end the whole stage
        return utt, None, None, ("feature_error", f"{source}: {type(e).__name__}: {e}")
    if len(feats) == 0:
        return utt, None, None, ("too_short", f"{source}: {len(wav)} samples < {WINDOW}")
    return utt, feats, energy, None


def make_job(feature_type, ssl_ckpt, ssl_layer, ssl_upstream, frame_rate_hz):
    """Worker state: the extractor (built once per process) and the frame rate."""
    return build_extractor(feature_type, ssl_ckpt, ssl_layer, ssl_upstream), frame_rate_hz


def point_scp_at(scp_path: str, tmp_dir: str, final_dir: str) -> None:
    """Rewrite ``utt <tmp_dir>/x.ark:offset`` as ``utt <final_dir>/x.ark:offset``."""
    with open(scp_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(scp_path, "w", encoding="utf-8") as f:
        for line in lines:
            utt, rx = line.split(" ", 1)
            ark, offset = rx.rsplit(":", 1)
            ark = os.path.join(final_dir, os.path.relpath(ark, tmp_dir))
            f.write(f"{utt} {ark}:{offset}\n")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--feature_type", choices=["mfcc", "ssl", "espnet_ssl", "phone_posterior"],
                   default="mfcc")
    p.add_argument("--ssl_ckpt", default=None, help="the feature model's checkpoint: local s3prl/fairseq-"
                   "converted (ssl), ESPnet HuBERT (espnet_ssl) or lst.bin.train_phone_classifier's model.pth")
    p.add_argument("--ssl_layer", type=int, default=None, help="index into hidden_states")
    p.add_argument("--ssl_upstream", default="hubert",
                   help="s3prl upstream family whose <name>_local loader reads --ssl_ckpt")
    p.add_argument("--frame_rate_hz", type=int, choices=FRAME_RATES_HZ, default=50)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logging(args.verbose)
    require_file(TOOL, args.wav_scp, "python -m lst.bin.format_wav")
    check_input_dir(TOOL, os.path.dirname(os.path.abspath(args.wav_scp)), "python -m lst.bin.format_wav")
    job_args = (args.feature_type, args.ssl_ckpt, args.ssl_layer, args.ssl_upstream,
                args.frame_rate_hz)
    try:
        job = make_job(*job_args)  # validates options and the checkpoint before any work
    except FeatureError as e:
        raise ToolError(f"{TOOL}: {e}")
    extractor = job[0]
    items = read_kaldi_map(args.wav_scp)
    inputs = input_fingerprints(wav_scp=args.wav_scp, ssl_ckpt=args.ssl_ckpt)
    with staged_dir(args.out_dir, TOOL) as stage:
        tmp = str(stage.path)
        out = lambda name: os.path.join(tmp, name)  # noqa: E731
        report = SkipReport(TOOL, logger)
        report.n_in = len(items)
        if args.nj > 1:
            results = ordered_map(extract_one, items, args.nj, make_job, job_args)
        else:
            results = ordered_map(extract_one, items, 1, lambda: job)
        utt2num_frames = []
        with kaldiio.WriteHelper(f"ark,scp:{out('feats.ark')},{out('feats.scp')}") as feats_w, \
                kaldiio.WriteHelper(f"ark,scp:{out('energy.ark')},{out('energy.scp')}") as energy_w:
            for utt, feats, energy, failure in tqdm(results, total=len(items), desc=TOOL,
                                                     mininterval=5, disable=None):
                if failure is not None:
                    report.skip(utt, *failure)
                    continue
                feats_w(utt, feats)
                energy_w(utt, energy)
                utt2num_frames.append((utt, str(len(feats))))
                report.n_written += 1
        for scp in ("feats.scp", "energy.scp"):  # name the arks where they will be
            point_scp_at(out(scp), tmp, args.out_dir)

        write_kaldi_map(out("utt2num_frames"), utt2num_frames)
        write_kaldi_map(out("skipped"), [(u, f"{r} {d}".strip()) for u, r, d in report.skips])
        info = {
            "feature_type": args.feature_type,
            "dim": int(extractor.dim),
            "frame_rate_hz": args.frame_rate_hz,
            "sample_rate": SAMPLE_RATE,
            "hop_samples_50hz": HOP,
            "window_samples": WINDOW,
            "frame_convention": "frame i covers [i/frame_rate_hz, (i+1)/frame_rate_hz) s; "
                                "see lst.units.features",
        }
        if args.feature_type == "ssl":
            info.update(ssl_ckpt=os.path.abspath(args.ssl_ckpt), ssl_layer=args.ssl_layer,
                        ssl_upstream=args.ssl_upstream)
        elif args.feature_type == "espnet_ssl":
            info.update(ssl_ckpt=os.path.abspath(args.ssl_ckpt), ssl_layer=args.ssl_layer,
                        ssl_upstream="espnet_ssl")
        elif args.feature_type == "phone_posterior":
            info.update(ssl_ckpt=os.path.abspath(args.ssl_ckpt))
        with open(out("feat_info.json"), "w") as f:
            json.dump(info, f, indent=2)
        report.finish()
        params = {k: info[k] for k in ("feature_type", "dim", "frame_rate_hz")}
        params.update({k: info[k] for k in ("ssl_layer", "ssl_upstream") if k in info})
        stage.complete(counts=report.counts(), params=params, inputs=inputs)


if __name__ == "__main__":
    run_tool(main)
