"""Read any audio file lst is given as 16 kHz mono float32.

Every unit stage assumes 16 kHz mono: the 50 Hz unit grid is 320 samples at 16 kHz, and the
SSL models were trained at 16 kHz. Inputs that break that assumption are repaired where the
repair is sound (averaging channels, resampling with soxr's high-quality filter) and logged;
inputs that cannot be repaired (missing, unreadable, empty) raise ``AudioError`` with a short
``reason`` so the calling tool can count skips by cause.

A wav.scp entry may also be a Kaldi-style pipe (``sox a.flac -t wav - |``): the command runs
in a shell and its stdout is read as an audio file.
"""
import io
import logging
import os
import subprocess

import numpy as np
import soundfile
import soxr

logger = logging.getLogger(__name__)


class AudioError(Exception):
    """An audio file that cannot be turned into 16 kHz mono samples.

    ``reason`` is a short tag ("missing", "unreadable", "empty") used in skip counts.
    """

    def __init__(self, path: str, reason: str, detail: str = ""):
        self.path = path
        self.reason = reason
        self.detail = detail
        message = f"{path}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(message)


def _read_pipe(command: str):
    """Run a Kaldi pipe command (``... |``) and decode its stdout as audio."""
    result = subprocess.run(command, shell=True, capture_output=True)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip().splitlines()
        detail = stderr[-1] if stderr else f"exit status {result.returncode}"
        raise AudioError(command, "unreadable", f"pipe failed: {detail}")
    return soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)


def read_audio(path: str):
    """Return (samples [n, channels] float32, sample_rate) exactly as stored."""
    path = path.strip()
    try:
        if path.endswith("|"):
            return _read_pipe(path[:-1])
        if not os.path.exists(path):
            raise AudioError(path, "missing", "no such file")
        return soundfile.read(path, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise AudioError(path, "unreadable", str(e).strip().splitlines()[0]) from None


def load_audio(path: str, target_sr: int = 16000, notes: list = None) -> np.ndarray:
    """Load ``path`` as mono float32 at ``target_sr``.

    Multi-channel audio is averaged to mono (the channels of a speech recording carry the
    same speech; averaging keeps its level). Other sample rates are resampled with soxr's
    high-quality filter; upsampling 8 kHz telephone audio leaves the 4-8 kHz band empty,
    which k-means copes with, so it is done rather than refused. Each repair is appended
    to ``notes`` (e.g. "downmixed", "resampled") when a list is given, and logged at
    DEBUG level, so a tool can count them.
    """
    samples, sr = read_audio(path)
    if samples.shape[0] == 0:
        raise AudioError(path, "empty", "0 samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError(path, "unreadable", "contains NaN or Inf samples")
    if samples.shape[1] > 1:
        logger.debug("%s: averaging %d channels to mono", path, samples.shape[1])
        if notes is not None:
            notes.append("downmixed")
        samples = samples.mean(axis=1, keepdims=True)
    wav = samples[:, 0]
    if sr != target_sr:
        logger.debug("%s: resampling %d Hz -> %d Hz", path, sr, target_sr)
        if notes is not None:
            notes.append("resampled")
        wav = soxr.resample(wav, sr, target_sr, quality="HQ")
    return np.ascontiguousarray(wav, dtype=np.float32)
