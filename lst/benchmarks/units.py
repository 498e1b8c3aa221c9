"""Speed of the MFCC unit path: feature extraction + k-means apply, in x real time.

``run_units_benchmark`` builds >= ``minutes`` of 16 kHz speech by concatenating the
mini_an4 utterances into ~15 s files (LibriSpeech-like lengths; white noise when the
archive is unavailable), learns a k-means codebook on it with ``learn_kmeans`` (not
timed), then times

* ``load``: reading the wav files,
* ``mfcc``: MFCC + deltas + frame energies,
* ``kmeans_apply``: nearest-centroid unit ids,
* ``cli``: the ``dump_features`` then ``dump_units`` tools run end to end in this process
  (includes reading wavs, ark/scp writing and reading back).

``x_realtime`` (the figure the units target reads, see ``lst.benchmarks.targets``) is audio
seconds / seconds of mfcc + kmeans_apply.

The command-line tools are passed in (``tools``: name -> ``main(argv)``) by the entry point
``lst.bin.benchmark``, so this library module does not import ``lst.bin``.
Everything runs on one process (``--nj 1``); more jobs scale it with the cores.
"""
import glob
import logging
import os
import tarfile
import tempfile
import time
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import soundfile

from lst.audio import load_audio
from lst.units.features import SAMPLE_RATE, MfccExtractor, extract
from lst.units.io import single_threaded
from lst.units.kmeans import apply_kmeans, load_kmeans

logger = logging.getLogger(__name__)

MINI_AN4 = os.path.join(os.environ.get("LST_SHARED", "/work/shared"), "data", "mini_an4", "downloads.tar.gz")
UTT_SECONDS = 15.0
TOOLS = ("dump_features", "learn_kmeans", "dump_units")


def _speech_clips(tmp_dir: str) -> Tuple[List[np.ndarray], str]:
    """The mini_an4 utterances as 16 kHz arrays, or one noise clip when unavailable."""
    if os.path.isfile(MINI_AN4):
        try:
            with tarfile.open(MINI_AN4) as tar:
                members = [m for m in tar.getmembers() if m.name.endswith(".sph")]
                tar.extractall(tmp_dir, members=members, filter="data")
            paths = sorted(glob.glob(os.path.join(tmp_dir, "**", "*.sph"), recursive=True))
            clips = [load_audio(p, SAMPLE_RATE) for p in paths]
            if clips:
                return clips, "mini_an4 (tiled)"
        except Exception as e:  # any problem with the archive: fall back, say why
            logger.warning("benchmark: cannot use %s (%s); using noise", MINI_AN4, e)
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(SAMPLE_RATE * 10)).astype(np.float32)], "white noise"


def _write_corpus(clips: List[np.ndarray], minutes: float, wav_dir: str) -> List[Tuple[str, str]]:
    """Concatenate clips cyclically into ~15 s wavs until ``minutes`` of audio exist."""
    os.makedirs(wav_dir, exist_ok=True)
    needed = int(minutes * 60 * SAMPLE_RATE)
    per_file = int(UTT_SECONDS * SAMPLE_RATE)
    items, written, k = [], 0, 0
    while written < needed:
        pieces, n = [], 0
        while n < min(per_file, needed - written):
            clip = clips[k % len(clips)]
            pieces.append(clip)
            n += len(clip)
            k += 1
        utt = f"bench{len(items):05d}"
        path = os.path.join(wav_dir, utt + ".wav")
        soundfile.write(path, np.concatenate(pieces), SAMPLE_RATE, subtype="PCM_16")
        items.append((utt, path))
        written += n
    return items


def run_units_benchmark(tools: Mapping[str, Callable[[Sequence[str]], object]], minutes: float = 10.0,
                        n_clusters: int = 500) -> Dict:
    """Time the MFCC unit path on >= ``minutes`` of audio; speeds are audio s / wall s.
    ``tools`` maps each of ``TOOLS`` to that command-line tool's ``main(argv)``."""
    missing = [name for name in TOOLS if name not in tools]
    if missing:
        raise ValueError(f"run_units_benchmark: no main given for the tools {missing}")
    with tempfile.TemporaryDirectory(prefix="lst_units_bench_") as tmp, single_threaded():
        clips, source = _speech_clips(os.path.join(tmp, "src"))
        items = _write_corpus(clips, minutes, os.path.join(tmp, "wav"))
        extractor = MfccExtractor()
        extract(extractor, clips[0])  # warm up librosa's lazy imports and JIT

        start = time.perf_counter()
        wavs = [load_audio(path) for _, path in items]
        t_load = time.perf_counter() - start
        audio_seconds = sum(len(w) for w in wavs) / SAMPLE_RATE

        start = time.perf_counter()
        feats = [extract(extractor, w)[0] for w in wavs]
        t_mfcc = time.perf_counter() - start

        scp = os.path.join(tmp, "wav.scp")
        with open(scp, "w") as f:
            f.writelines(f"{utt} {path}\n" for utt, path in items)
        feats_dir, km_dir = os.path.join(tmp, "feats"), os.path.join(tmp, "km")
        start = time.perf_counter()
        tools["dump_features"](["--wav_scp", scp, "--out_dir", feats_dir, "--nj", "1"])
        t_feats_cli = time.perf_counter() - start
        tools["learn_kmeans"](["--feats_dir", feats_dir, "--n_clusters", str(n_clusters),
                        "--out_dir", km_dir, "--max_frames", "50000", "--max_iter", "20"])
        km = load_kmeans(os.path.join(km_dir, "km.pkl"))

        start = time.perf_counter()
        for f in feats:
            apply_kmeans(km, f)
        t_apply = time.perf_counter() - start

        start = time.perf_counter()
        tools["dump_units"](["--feats_dir", feats_dir, "--km_dir", km_dir,
                         "--out_dir", os.path.join(tmp, "units"), "--nj", "1"])
        t_units_cli = time.perf_counter() - start

    speed = lambda seconds: round(audio_seconds / max(seconds, 1e-9), 1)  # noqa: E731
    return {
        "audio_minutes": round(audio_seconds / 60, 2),
        "audio_source": source,
        "n_files": len(items),
        "n_clusters": n_clusters,
        "frames_50hz": int(sum(len(f) for f in feats)),
        "processes": 1,
        "load_s": round(t_load, 3),
        "mfcc_s": round(t_mfcc, 3),
        "kmeans_apply_s": round(t_apply, 3),
        "mfcc_x_realtime": speed(t_mfcc),
        "kmeans_apply_x_realtime": speed(t_apply),
        "load_mfcc_apply_x_realtime": speed(t_load + t_mfcc + t_apply),
        "cli_x_realtime": speed(t_feats_cli + t_units_cli),
        # feature extraction + k-means apply (the figure the units target reads)
        "x_realtime": speed(t_mfcc + t_apply),
    }
