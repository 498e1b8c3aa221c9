"""Frame-level features for discrete units: MFCC (HuBERT iteration 0), an SSL layer or phone posteriors.

Frame convention (shared by MFCC, SSL features, energies, units and word alignments)
-----------------------------------------------------------------------------------
At the native 50 Hz rate, frame ``i`` is computed from the 25 ms window of 16 kHz samples
``[320*i, 320*i + 400)`` -- the same grid as HuBERT's convolutional front end (receptive
field 400 samples, stride 320), so MFCC and SSL frames line up one to one. An utterance of
``n`` samples has ``1 + (n - 400) // 320`` frames (0 when ``n < 400``).

For timing purposes frame ``i`` *covers* ``[i / unit_rate_hz, (i + 1) / unit_rate_hz)``
seconds: its hop-aligned span (the window overhangs it by 5 ms, which is ignored). At
25 Hz, frame ``j`` is the mean of 50 Hz frames ``2j`` and ``2j + 1`` and covers
``[j / 25, (j + 1) / 25)``; an odd trailing 50 Hz frame becomes a final 25 Hz frame on its
own, so ``ceil(n50 / 2)`` frames result. Words map to the frames whose centre
``(i + 0.5) / unit_rate_hz`` lies in the word's ``[start, end)``: see lst.data.timings.
"""
import importlib
import logging
import os
import warnings
from typing import Tuple

import librosa
import numpy as np

from lst.compat import S3PRL_PLACEHOLDERS, espnet_placeholders

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
NATIVE_RATE_HZ = 50
HOP = SAMPLE_RATE // NATIVE_RATE_HZ  # 320 samples = 20 ms
WINDOW = 400  # 25 ms
FRAME_RATES_HZ = (50, 25)


class FeatureError(Exception):
    """A feature extractor that cannot be built (bad checkpoint, layer, option)."""


def num_frames_50hz(num_samples: int) -> int:
    """Frames on the native grid for ``num_samples`` 16 kHz samples."""
    return 0 if num_samples < WINDOW else 1 + (num_samples - WINDOW) // HOP


def frame_span_seconds(index: int, unit_rate_hz: float) -> Tuple[float, float]:
    """The [start, end) seconds that frame ``index`` covers at ``unit_rate_hz``."""
    return index / unit_rate_hz, (index + 1) / unit_rate_hz


def pool_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """Average each run of ``factor`` consecutive frames (the last run may be shorter)."""
    if factor == 1 or len(frames) == 0:
        return frames
    n = len(frames)
    n_full = n // factor
    pooled = frames[: n_full * factor].reshape(n_full, factor, *frames.shape[1:]).mean(axis=1)
    if n % factor:
        pooled = np.concatenate([pooled, frames[n_full * factor:].mean(axis=0, keepdims=True)])
    return pooled.astype(frames.dtype, copy=False)


def frame_log_energy(wav: np.ndarray) -> np.ndarray:
    """Log energy in dB of each native 50 Hz frame window (used for the silence report)."""
    n = num_frames_50hz(len(wav))
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    windows = librosa.util.frame(wav[: WINDOW + (n - 1) * HOP], frame_length=WINDOW,
                                 hop_length=HOP, axis=0)
    power = np.mean(windows.astype(np.float64) ** 2, axis=1)
    return (10.0 * np.log10(power + 1e-10)).astype(np.float32)


class MfccExtractor:
    """39-dim MFCC + delta + delta-delta on the 50 Hz grid (HuBERT's iteration-0 input).

    Settings follow Kaldi's defaults that HuBERT's recipe used (23 mel bins, 13 cepstra,
    pre-emphasis 0.97, cepstral lifter 22), computed with librosa, except for the 20 ms
    hop (Kaldi: 10 ms) so that MFCC frames share the SSL frame grid. Deltas use a 5-frame
    window (Kaldi's delta window of 2) with edge frames repeated, so even a one-frame
    utterance gets deltas.
    """

    feature_type = "mfcc"
    dim = 39

    def __init__(self):
        # librosa.feature.melspectrogram rebuilds the filterbank and applies it with a slow
        # einsum on every call (~2/3 of the time); build it once and use a matmul instead.
        self.mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WINDOW, n_mels=23, fmin=20.0)

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        n = num_frames_50hz(len(wav))
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        wav = librosa.effects.preemphasis(wav[: WINDOW + (n - 1) * HOP], coef=0.97)
        spec = librosa.stft(wav, n_fft=WINDOW, hop_length=HOP, win_length=WINDOW,
                            window="hamming", center=False)
        mel = self.mel_basis @ (np.abs(spec) ** 2)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13, lifter=22)
        delta1 = librosa.feature.delta(mfcc, width=5, order=1, mode="nearest")
        delta2 = librosa.feature.delta(mfcc, width=5, order=2, mode="nearest")
        return np.concatenate([mfcc, delta1, delta2]).T.astype(np.float32)


class SslExtractor:
    """Hidden states of one layer of a self-supervised model, through s3prl's upstream API.

    ``upstream`` names an s3prl upstream family (hubert, wavlm, wav2vec2, data2vec, ...);
    its ``<upstream>_local`` entry point loads ``ckpt`` from disk, so nothing is downloaded.
    ``layer`` indexes s3prl's ``hidden_states``: 0 is the input of the first transformer
    layer, ``L`` the output of layer ``L`` (HuBERT-base iteration 1 used layer 6).
    """

    feature_type = "ssl"

    def __init__(self, ckpt: str, layer: int, upstream: str = "hubert", device: str = "cpu"):
        import torch

        if ckpt.startswith(("http://", "https://")) or not os.path.isfile(ckpt):
            raise FeatureError(f"SSL checkpoint {ckpt} is not a local file "
                               "(lst never downloads models; pass a path with --ssl_ckpt)")
        logging.getLogger("s3prl").setLevel(logging.WARNING)  # it logs the whole config
        try:
            with espnet_placeholders(S3PRL_PLACEHOLDERS):  # s3prl imports torchaudio, unused here
                hubconf = importlib.import_module(f"s3prl.upstream.{upstream}.hubconf")
            load = getattr(hubconf, f"{upstream}_local")
        except (ImportError, AttributeError) as e:
            raise FeatureError(f"s3prl has no local loader for upstream {upstream!r} ({e})")
        try:
            with warnings.catch_warnings():  # s3prl's weight_norm deprecation notice
                warnings.simplefilter("ignore", FutureWarning)
                self.model = load(ckpt=ckpt).to(device).eval()
        except Exception as e:  # any load failure: name the file, not a stack trace
            raise FeatureError(f"cannot load SSL checkpoint {ckpt} as s3prl upstream "
                               f"{upstream!r}: {type(e).__name__}: {e}")
        self.torch = torch
        self.device = device
        self.layer = layer
        self.upstream = upstream
        self.ckpt = ckpt
        probe = self._hidden_states(np.zeros(SAMPLE_RATE, dtype=np.float32))
        if not -len(probe) <= layer < len(probe):
            raise FeatureError(f"--ssl_layer {layer} out of range: {ckpt} has "
                               f"{len(probe)} hidden states (0..{len(probe) - 1})")
        self.dim = int(probe[layer].shape[-1])

    def _hidden_states(self, wav: np.ndarray):
        with self.torch.inference_mode():
            x = self.torch.from_numpy(wav).to(self.device)
            return self.model([x])["hidden_states"]

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        n = num_frames_50hz(len(wav))
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        hidden = self._hidden_states(wav)[self.layer][0].float().cpu().numpy()
        if len(hidden) <= (n + 1) // 2 + 1 and n > 4:
            # a native 25 Hz model (mHuBERT-25Hz: one more stride-2 conv): frame j covers 50 Hz
            # frames 2j and 2j+1, so repeat it twice; --frame_rate_hz 25 pools the pair back.
            hidden = np.repeat(hidden, 2, axis=0)
        # The model's conv stack may round differently; keep the shared grid exactly.
        if len(hidden) < n:
            hidden = np.concatenate([hidden, np.repeat(hidden[-1:], n - len(hidden), 0)])
        return hidden[:n].astype(np.float32, copy=False)


def build_extractor(feature_type: str, ssl_ckpt: str = None, ssl_layer: int = None,
                    ssl_upstream: str = "hubert"):
    """Make the extractor a CLI option asks for."""
    if feature_type == "mfcc":
        return MfccExtractor()
    if feature_type == "ssl":
        if ssl_ckpt is None or ssl_layer is None:
            raise FeatureError("--feature_type ssl needs --ssl_ckpt and --ssl_layer")
        return SslExtractor(ssl_ckpt, ssl_layer, ssl_upstream)
    if feature_type == "espnet_ssl":  # a HuBERT trained in-recipe (lst.bin.train_hubert)
        if ssl_ckpt is None or ssl_layer is None:
            raise FeatureError("--feature_type espnet_ssl needs --ssl_ckpt and --ssl_layer")
        from lst.units.ssl import EspnetSslExtractor

        return EspnetSslExtractor(ssl_ckpt, ssl_layer)
    if feature_type == "phone_posterior":  # a phone classifier trained in-recipe (lst.bin.train_phone_classifier)
        if ssl_ckpt is None:
            raise FeatureError("--feature_type phone_posterior needs --ssl_ckpt (the classifier's model.pth)")
        from lst.units.phones import PhonePosteriorExtractor

        return PhonePosteriorExtractor(ssl_ckpt)
    raise FeatureError(f"unknown feature type {feature_type!r} (mfcc, ssl, espnet_ssl or phone_posterior)")


def extract(extractor, wav: np.ndarray, frame_rate_hz: int = 50):
    """Features and per-frame log energies (dB) of one 16 kHz utterance at ``frame_rate_hz``.

    Energies are pooled in the power domain (mean power, back to dB) so a 25 Hz frame's
    energy is that of its 40 ms of audio.
    """
    if frame_rate_hz not in FRAME_RATES_HZ:
        raise FeatureError(f"frame rate {frame_rate_hz} Hz not supported (50 or 25)")
    factor = NATIVE_RATE_HZ // frame_rate_hz
    feats = extractor(wav)
    energy_db = frame_log_energy(wav)
    assert len(feats) == len(energy_db), (len(feats), len(energy_db))
    power = pool_frames(10.0 ** (energy_db.astype(np.float64) / 10.0), factor)
    energy_db = (10.0 * np.log10(power + 1e-10)).astype(np.float32)
    return pool_frames(feats, factor), energy_db
