"""Patch-boundary picture of a held-out utterance: spectrogram, word timings, and where each
patching (static, aligned, curriculum at evaluation, silence) starts its patches.

    # an utterance of a kaldi set (units from the recipe's unit stage, timings from espeak-ng):
    python -m lst.bin.plot_patches --wav_scp dump/raw/test/wav.scp --units dump/units/<tag>/test/units \
        --unit_info dump/units/<tag>/test/unit_info.json --word_ctm dump/raw/test/word_ctm \
        --silence_units_file exp/kmeans_<tag>/silence_units.json --out exp/patches.png [--utt ID]
    # or a spoken part of a benchmark item (it carries audio, units and word timings):
    python -m lst.bin.plot_patches --benchmark data/bench/sc.jsonl [--item ID] [--part context] --out x.png

Patch lengths come from ``lst.patching`` through ``lst.eval.plots.patchings_of`` (curriculum
is drawn as the model patches at evaluation). Silence patching needs the k-means model's
silence units (``silence_units.json`` from the k-means stage); without them it is left out.
"""
import argparse
import json
import logging
import sys
from pathlib import Path


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("--benchmark", default=None, help="item file: plot a spoken part of an item")
    p.add_argument("--item", default=None, help="item id (default: the first item with a spoken context)")
    p.add_argument("--part", default="context", help="context or candidate<k>")
    p.add_argument("--wav_scp", default=None)
    p.add_argument("--units", default=None, help="kaldi-style 'utt u u u' (not deduplicated)")
    p.add_argument("--unit_info", default=None, help="unit_info.json (unit_rate_hz)")
    p.add_argument("--word_ctm", default=None)
    p.add_argument("--utt", default=None, help="utterance id (default: the first of --units)")
    p.add_argument("--patchings", default="static,aligned,curriculum,silence")
    p.add_argument("--patch_size", type=int, default=4)
    p.add_argument("--max_patch_len", type=int, default=16, help="0: no cap")
    p.add_argument("--silence_units_file", default=None, help="silence_units.json of the k-means stage")
    p.add_argument("--max_seconds", type=float, default=8.0, help="plot at most this much audio (0: all)")
    return p


def load_from_benchmark(args):
    from lst.eval.benchmark import read_items

    items = read_items(args.benchmark)
    for it in items:
        if args.item and it["id"] != args.item:
            continue
        part = it["context"] if args.part == "context" else it["candidates"][int(args.part.replace("candidate", ""))]
        if part and "audio" in part:
            return it["id"] + " " + args.part, part["audio"], part["words"], part["units"], part["items"], \
                part["unit_rate_hz"]
    raise SystemExit(f"plot_patches: no item {args.item or ''} with a spoken {args.part} in {args.benchmark}")


def load_from_kaldi(args):
    from lst.data.kaldi_dir import read_kaldi_map
    from lst.data.sequence_format import Span, format_sequence
    from lst.data.timings import read_ctm, unit_segments

    for f in (args.wav_scp, args.units, args.unit_info, args.word_ctm):
        if not f or not Path(f).exists():
            raise SystemExit(f"plot_patches: {f} not found (give --wav_scp --units --unit_info --word_ctm, or --benchmark)")
    units_map = read_kaldi_map(args.units)
    utt = args.utt or next(iter(units_map))
    if utt not in units_map:
        raise SystemExit(f"plot_patches: {utt} not in {args.units}")
    units = [int(u) for u in units_map[utt].split()]
    rate = float(json.loads(Path(args.unit_info).read_text())["unit_rate_hz"])
    ctm, wavs = read_ctm(args.word_ctm), read_kaldi_map(args.wav_scp)
    for name, path, m in (("word timings", args.word_ctm, ctm), ("audio", args.wav_scp, wavs)):
        if utt not in m:
            raise SystemExit(f"plot_patches: {utt} has no {name} in {path}")
    words = ctm[utt]
    segs = unit_segments(words, len(units), rate, where=f"{args.word_ctm}: {utt}")
    items = format_sequence([Span("speech", units, segs)])
    wav = wavs[utt]
    return utt, wav, [[w.word, w.start, w.end] for w in words], units, items, rate


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (plot_patches) %(levelname)s: %(message)s")
    import numpy as np
    import soundfile as sf

    from lst.eval.plots import patchings_of, plot_patch_boundaries, span_flags

    name, wav, words, units, items, rate = load_from_benchmark(args) if args.benchmark else load_from_kaldi(args)
    audio, sr = sf.read(wav, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    u, flags = span_flags(items)
    if u != list(units):
        raise SystemExit(f"plot_patches: {name}: the item string's units differ from its unit list")
    names = [p for p in args.patchings.split(",") if p]
    sil = []
    if "silence" in names:
        if args.silence_units_file and Path(args.silence_units_file).exists():
            sil = json.loads(Path(args.silence_units_file).read_text())["silence_units"]
        if not sil:
            logging.warning("no silence units (--silence_units_file); silence patching left out")
            names.remove("silence")
    if args.max_seconds and len(audio) / sr > args.max_seconds:  # keep whole words within the window
        n = int(args.max_seconds * rate)
        u, flags = u[:n], flags[:n]
        audio = audio[: int(n / rate * sr)]
        words = [w for w in words if w[2] <= n / rate]
    patches = patchings_of(u, flags, names, args.patch_size, args.max_patch_len or None, sil)
    plot_patch_boundaries(np.asarray(audio), sr, words, rate, patches, args.out,
                          title=f"patch boundaries: {name} ({len(u)} units at {rate:g} Hz)")
    print(f"plot_patches: {name}: " + "; ".join(f"{k}: {len(v)} patches" for k, v in patches.items())
          + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
