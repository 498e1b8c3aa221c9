"""Speak text with espeak-ng into kaldi data dirs with word timings, and turn spoken text into
units with a recipe's own unit pipeline. Shared by the corpus builders (StoryCloze, ROCStories)
and the benchmark builders (``lst.bin.make_benchmark``, the StoryCloze recipe's
``local/make_story_benchmark.py``).

Synthesis runs in worker processes (``init_synth_worker`` as the pool initializer, then
``synth_job`` per utterance), each with its own :class:`lst.tts.espeak.EspeakSynthesizer`.
"""
import json
import logging
import multiprocessing as mp
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import soundfile

from lst.data.sequence_format import Span, format_sequence
from lst.data.timings import WordTiming, read_ctm, unit_segments, validate_timings, write_ctm
from lst.tts.espeak import INSTALL_HINT, EspeakSynthesizer, espeak_available

_SYN = None  # this worker's synthesizer (set by init_synth_worker)


def speaker_id(voice: str, rate: int) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", voice.replace("+", "x")) + f"-r{rate}"


def init_synth_worker(sample_rate):
    """Pool initializer: one espeak-ng synthesizer per worker process."""
    global _SYN
    _SYN = EspeakSynthesizer(sample_rate=sample_rate)


def synth_job(job):
    """(utt, text, voice, rate, wav_path) -> (utt, words, duration, n_split_words, error)."""
    utt, text, voice, rate, wav_path = job
    try:
        _SYN.set_voice(voice, rate)
        split_before = _SYN.n_split_words
        res = _SYN.synthesize(text, utt=utt)
        validate_timings(utt, res.words)
        Path(wav_path).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(wav_path, res.audio, res.sample_rate, subtype="PCM_16")
        return utt, res.words, res.duration, _SYN.n_split_words - split_before, None
    except Exception as e:  # reported and counted by the parent
        return utt, None, 0.0, 0, f"{type(e).__name__}: {e}"


def write_kaldi_dir(d: Path, entries: List[Tuple[str, str, str, str]], timings: Dict[str, List[WordTiming]]):
    """entries: (utt, spk, wav_path, text) for utterances that were synthesized."""
    d.mkdir(parents=True, exist_ok=True)
    entries = sorted(entries)
    with open(d / "wav.scp", "w") as f:
        f.writelines(f"{u} {w}\n" for u, _, w, _ in entries)
    with open(d / "text", "w", encoding="utf-8") as f:
        f.writelines(f"{u} {t}\n" for u, _, _, t in entries)
    with open(d / "utt2spk", "w") as f:
        f.writelines(f"{u} {s}\n" for u, s, _, _ in entries)
    spk2utt = defaultdict(list)
    for u, s, _, _ in entries:
        spk2utt[s].append(u)
    with open(d / "spk2utt", "w") as f:
        f.writelines(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items()))
    write_ctm(d / "word_ctm", {u: timings[u] for u, _, _, _ in entries})


def run_tool(cmd: List[str]) -> None:
    logging.info("running: %s", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"speak_and_unitize: {' '.join(cmd[:3])} failed (rc {r.returncode}):\n{r.stderr[-3000:]}")


def speak_and_unitize(utts: Dict[str, tuple], args) -> Dict[str, str]:
    """utts: utt -> (text, voice) -> {utt: speech item string '<s> u u | u ...'}.

    ``args`` carries the unit settings of the training recipe: ``work_dir``, ``rate`` (wpm),
    ``nj``, ``feature_type``, ``frame_rate_hz``, ``km_dir`` (and ``ssl_ckpt``/``ssl_layer``
    for ssl, espnet_ssl and phone_posterior features). The recipe's own tools run on the spoken audio, as subprocesses:
    ``lst.bin.format_wav`` -> ``lst.bin.dump_features`` -> ``lst.bin.dump_units`` (no dedup),
    so an evaluation item gets exactly the units a training utterance would.
    """
    if not espeak_available():
        raise SystemExit(f"speak_and_unitize: espeak-ng not found; install it: {INSTALL_HINT} (or use text-only modes)")
    work = Path(args.work_dir)
    jobs = [(u, t, v, args.rate, str(work / "wav" / f"{u}.wav")) for u, (t, v) in sorted(utts.items())]
    timings, entries = {}, []
    with mp.get_context("spawn").Pool(max(1, args.nj), initializer=init_synth_worker, initargs=(16000,)) as pool:
        for utt, words, _, _, err in pool.imap_unordered(synth_job, jobs, chunksize=4):
            if err:
                raise SystemExit(f"speak_and_unitize: synthesis of {utt} failed: {err}")
            timings[utt] = words
    for u, t, v, _, wav in jobs:
        entries.append((u, f"{v}-r{args.rate}", wav, t))
    write_kaldi_dir(work / "data", entries, timings)
    py = sys.executable
    run_tool([py, "-m", "lst.bin.format_wav", "--wav_scp", str(work / "data/wav.scp"), "--out_dir", str(work / "raw"),
         "--nj", str(args.nj)])
    feat_cmd = [py, "-m", "lst.bin.dump_features", "--wav_scp", str(work / "raw/wav.scp"), "--out_dir",
                str(work / "feats"), "--feature_type", args.feature_type, "--frame_rate_hz", str(args.frame_rate_hz),
                "--nj", str(args.nj)]
    if args.feature_type != "mfcc":  # s3prl upstream, a HuBERT trained in ssl1, or a phone classifier
        feat_cmd += ["--ssl_ckpt", args.ssl_ckpt]
        if getattr(args, "ssl_layer", None) is not None:  # phone posteriors have no layer
            feat_cmd += ["--ssl_layer", str(args.ssl_layer)]
    run_tool(feat_cmd)
    run_tool([py, "-m", "lst.bin.dump_units", "--feats_dir", str(work / "feats"), "--km_dir", args.km_dir,
         "--out_dir", str(work / "units"), "--dedup", "false", "--nj", str(args.nj)])
    info = json.loads((work / "units/unit_info.json").read_text())
    rate = float(info["unit_rate_hz"])
    ctm = read_ctm(work / "data/word_ctm")
    out = {}
    with open(work / "units/units", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            units = [int(x) for x in fields[1:]]
            if not units:
                raise SystemExit(f"{work}/units/units: utterance {fields[0]} has no units")
            segs = unit_segments(ctm[fields[0]], len(units), rate, where=f"{work}/data/word_ctm: {fields[0]}")
            out[fields[0]] = format_sequence([Span("speech", units, segs)])
    missing = sorted(set(utts) - set(out))
    if missing:
        raise SystemExit(f"speak_and_unitize: no units for {len(missing)} utterances, e.g. {missing[:3]} "
                         f"(see {work}/feats/skipped, {work}/raw/skipped)")
    return out
