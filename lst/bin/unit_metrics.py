r"""Unit quality against frame-level phone labels: PNMI, phone/cluster purity, rates.

    python -m lst.bin.unit_metrics --units_dir dump/units/it1_l4_km100/synth_eval \
        --phone_ctm dump/raw/synth_eval/phone_ctm --name it1_l4_km100 \
        [--eval_set synth_eval] [--out_json exp/unit_metrics/synth_eval/it1_l4_km100.json]

    python -m lst.bin.unit_metrics collect --in_dir exp/unit_metrics --out_json RESULTS.json

    # PNMI of unit set A minus B on the same utterances, paired bootstrap over utterances
    python -m lst.bin.unit_metrics compare --units_dirs dump/units/A/an4_test dump/units/B/an4_test \
        --phone_ctm data/an4_test/phone_ctm [--n_boot 1000] [--out_json exp/unit_metrics/A_vs_B.json]

    # extraction speed (x real time, wall and CPU) of an extractor, or of a model shape with
    # random weights (--random_config: an ESPnet SSL training config)
    python -m lst.bin.unit_metrics speed --feature_type espnet_ssl --ssl_ckpt exp/.../valid.loss.best.pth \
        --ssl_layer 4 [--seconds 60] [--threads 1]
    python -m lst.bin.unit_metrics speed --random_config conf/train_hubert_base_gpu.yaml --ssl_layer 6

``--units_dir`` is a lst.bin.dump_units output (``units``, ``unit_info.json``, and
``durations`` when deduplicated: frame-level units are restored first). ``--phone_ctm`` has
word_ctm's format with phones for words (``utt phone start end``; made from espeak-ng
phoneme events by the ssl1 recipes). A frame takes the phone whose span holds its centre;
uncovered frames are ``sil``. Definitions: lst.units.metrics. ``collect`` gathers the
per-set rows into one JSON list (sorted by eval set, then units).
"""
import argparse
import json
import logging
import os
import sys
from typing import Sequence

from lst.data.timings import TimingError, read_ctm
from lst.units.io import (SkipReport, ToolError, read_int_sequences, require_file, run_tool,
                          setup_logging)
from lst.units.kmeans import expand
from lst.units.metrics import frame_labels, pnmi_paired_bootstrap, rate_stats, unit_quality

logger = logging.getLogger("lst.unit_metrics")
TOOL = "unit_metrics"


def load_pairs(units_dir: str, phone_ctm: str):
    """-> ({utt: (frame phone labels, units)}, unit rate, unit_info); skips are counted and logged."""
    made_by = "python -m lst.bin.dump_units"
    require_file(TOOL, os.path.join(units_dir, "units"), made_by)
    require_file(TOOL, os.path.join(units_dir, "unit_info.json"), made_by)
    require_file(TOOL, phone_ctm, "espeak-ng phone timings (local/synth_eval.py)")
    with open(os.path.join(units_dir, "unit_info.json")) as f:
        info = json.load(f)
    units = read_int_sequences(os.path.join(units_dir, "units"))
    if info.get("dedup"):
        durations = read_int_sequences(os.path.join(units_dir, "durations"))
        units = {u: expand(v, durations[u]) for u, v in units.items() if u in durations}
    try:
        spans = read_ctm(phone_ctm)
    except TimingError as e:
        raise ToolError(f"{TOOL}: {e}")
    rate = float(info["unit_rate_hz"])
    report = SkipReport(TOOL, logger)
    pairs = {}
    for utt, seq in units.items():
        report.n_in += 1
        if utt not in spans:
            report.skip(utt, "no_phone_labels", phone_ctm)
            continue
        spans_u = [(t.word, t.start, t.end) for t in spans[utt]]
        if spans_u and spans_u[-1][2] < (len(seq) - 1) / rate:
            report.skip(utt, "labels_too_short",
                        f"phones end at {spans_u[-1][2]:.2f} s, units at {len(seq) / rate:.2f} s")
            continue
        pairs[utt] = (frame_labels(spans_u, len(seq), rate), seq)
        report.n_written += 1
    report.finish()
    return pairs, rate, info


def score(units_dir: str, phone_ctm: str, name: str, eval_set: str) -> dict:
    by_utt, rate, info = load_pairs(units_dir, phone_ctm)
    pairs = list(by_utt.values())
    seqs = [seq for _, seq in pairs]
    quality, _, labels = unit_quality(pairs)
    row = {"units": name, "eval_set": eval_set,
           "pnmi": round(quality.pnmi, 4),
           "phone_purity": round(quality.phone_purity, 4),
           "cluster_purity": round(quality.cluster_purity, 4)}
    row.update(rate_stats(seqs, rate))
    row.update(unit_rate_hz=rate, n_units=info.get("n_units"), n_units_used=quality.n_units_used,
               n_phones=quality.n_phones, n_frames=quality.n_frames, n_utts=len(pairs),
               feature_type=info.get("feature_type"))
    for key in ("ssl_ckpt", "ssl_layer"):
        if key in info:
            row[key] = info[key]
    return row


def compare(units_dirs: Sequence[str], phone_ctm: str, n_boot: int) -> dict:
    """PNMI of two unit sets on the utterances both have, with a paired bootstrap of the difference."""
    (a, _, _), (b, _, _) = (load_pairs(d, phone_ctm) for d in units_dirs)
    common = sorted(set(a) & set(b))
    if not common:
        raise ToolError(f"{TOOL} compare: {units_dirs[0]} and {units_dirs[1]} share no scored utterance")
    for u in set(a) ^ set(b):
        logger.warning("%s compare: %s is scored in only one of the unit sets; left out", TOOL, u)
    return pnmi_paired_bootstrap([a[u] for u in common], [b[u] for u in common], n_boot=n_boot)


def collect(in_dir: str) -> list:
    rows = []
    for root, _, files in os.walk(in_dir):
        for name in sorted(files):
            if name.endswith(".json"):
                with open(os.path.join(root, name)) as f:
                    rows.append(json.load(f))
    if not rows:
        raise ToolError(f"{TOOL} collect: no *.json rows under {in_dir}")
    return sorted(rows, key=lambda r: (r.get("eval_set", ""), r.get("units", "")))


def speed_main(argv) -> None:
    import tempfile

    import torch

    from lst.units.features import FeatureError, build_extractor
    from lst.units.ssl import extraction_speed, random_checkpoint

    p = argparse.ArgumentParser(prog="unit_metrics speed")
    p.add_argument("--feature_type", choices=["mfcc", "ssl", "espnet_ssl"], default="espnet_ssl")
    p.add_argument("--ssl_ckpt", default=None)
    p.add_argument("--ssl_layer", type=int, default=None)
    p.add_argument("--ssl_upstream", default="hubert")
    p.add_argument("--random_config", default=None,
                   help="ESPnet SSL config: time a randomly initialised model of this shape")
    p.add_argument("--seconds", type=float, default=60.0, help="audio to extract")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out_json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, feature_type = args.ssl_ckpt, args.feature_type
        if args.random_config:
            ckpt, feature_type = random_checkpoint(args.random_config, 501, tmp), "espnet_ssl"
        try:
            extractor = build_extractor(feature_type, ckpt, args.ssl_layer, args.ssl_upstream)
        except FeatureError as e:
            raise ToolError(f"{TOOL} speed: {e}")
        row = {"feature_type": feature_type, "ssl_layer": args.ssl_layer, "threads": args.threads,
               "model": args.random_config and f"random weights, {args.random_config}" or ckpt}
        if hasattr(extractor, "model"):
            row["parameters"] = sum(p.numel() for p in extractor.model.parameters())
        row.update(extraction_speed(extractor, args.seconds))
    text = json.dumps(row, indent=1)
    print(text)
    if args.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, "w") as f:
            f.write(text + "\n")


MD_COLUMNS = ("units", "eval_set", "pnmi", "phone_purity", "cluster_purity", "units_per_s",
              "dedup_units_per_s", "dedup_length_ratio", "bitrate_bps", "dedup_bitrate_bps",
              "n_units_used")


def markdown_table(rows: list) -> str:
    lines = ["| " + " | ".join(MD_COLUMNS) + " |", "|" + "---|" * len(MD_COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in MD_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    setup_logging()
    if argv and argv[0] == "speed":
        speed_main(argv[1:])
        return
    if argv and argv[0] == "compare":
        p = argparse.ArgumentParser(prog="unit_metrics compare",
                                    description="PNMI of unit set A minus B, paired bootstrap over utterances")
        p.add_argument("--units_dirs", nargs=2, required=True, metavar=("A", "B"))
        p.add_argument("--phone_ctm", required=True)
        p.add_argument("--n_boot", type=int, default=1000)
        p.add_argument("--out_json", default=None)
        args = p.parse_args(argv[1:])
        out = {"a": args.units_dirs[0], "b": args.units_dirs[1], **compare(args.units_dirs, args.phone_ctm, args.n_boot)}
        text = json.dumps(out, indent=1)
        if args.out_json:
            os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
            with open(args.out_json, "w") as f:
                f.write(text + "\n")
        logger.info("PNMI %.4f (A) - %.4f (B) = %+.4f, 95 %% CI [%+.4f, %+.4f] over %d utterances",
                    out["pnmi_a"], out["pnmi_b"], out["difference"], *out["ci95"], out["n_utts"])
        print(text)
        return
    if argv and argv[0] == "collect":
        p = argparse.ArgumentParser(prog="unit_metrics collect")
        p.add_argument("--in_dir", required=True)
        p.add_argument("--out_json", required=True)
        p.add_argument("--out_md", default=None, help="also write the rows as a markdown table")
        args = p.parse_args(argv[1:])
        rows = collect(args.in_dir)
        with open(args.out_json, "w") as f:
            json.dump(rows, f, indent=1)
        if args.out_md:
            with open(args.out_md, "w") as f:
                f.write(markdown_table(rows))
        for r in rows:
            logger.info("%s %-24s PNMI %.4f  phone purity %.4f  cluster purity %.4f  "
                        "%.1f units/s (dedup %.1f)", r["eval_set"], r["units"], r["pnmi"],
                        r["phone_purity"], r["cluster_purity"], r["units_per_s"],
                        r["dedup_units_per_s"])
        return
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units_dir", required=True)
    p.add_argument("--phone_ctm", required=True)
    p.add_argument("--name", default=None, help="row name (default: the units dir's parent)")
    p.add_argument("--eval_set", default=None, help="default: the units dir's name")
    p.add_argument("--out_json", default=None, help="write the row here (else stdout)")
    args = p.parse_args(argv)
    units_dir = os.path.normpath(args.units_dir)
    name = args.name or os.path.basename(os.path.dirname(units_dir))
    eval_set = args.eval_set or os.path.basename(units_dir)
    row = score(units_dir, args.phone_ctm, name, eval_set)
    text = json.dumps(row, indent=1)
    if args.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, "w") as f:
            f.write(text + "\n")
    logger.info("%s on %s: PNMI %.4f, phone purity %.4f, cluster purity %.4f, %.1f units/s "
                "(dedup %.1f, ratio %.3f)", name, eval_set, row["pnmi"], row["phone_purity"],
                row["cluster_purity"], row["units_per_s"], row["dedup_units_per_s"],
                row["dedup_length_ratio"])
    if not args.out_json:
        print(text)


if __name__ == "__main__":
    run_tool(main)
