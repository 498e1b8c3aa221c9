"""A unit -> log-mel network plus Griffin-Lim: the unit vocoder trained inside the TTS recipe.

Why this and not ESPnet's discrete-unit HiFi-GAN: the recipes must train their vocoder on a
2-core CPU in minutes, from a few utterances (mini_an4 has 4 training utterances). A GAN
vocoder needs hours of GPU time and thousands of utterances before it says anything
intelligible; a small non-autoregressive regressor from units to log-mel frames converges
in a few hundred full-batch steps (tens of seconds), and Griffin-Lim (librosa) needs no
training at all. The price is quality: Griffin-Lim phase is buzzy and MFCC-k-means units
carry little speaker/prosody detail, so recognisers see degraded audio. The recipe reports
WER/CER on the resynthesised *reference* units next to the TTS outputs, so the vocoder's
own share of the error is visible.

Model: embedding (one vector per unit id) -> a stack of residual 1-D convolutions (kernel 5,
LayerNorm, GELU) at the unit rate -> each unit repeated ``frames_per_unit`` times, plus an
embedding of the frame's position inside its unit -> ``post_layers`` more convolutions at the
mel rate -> linear to `n_mels` log-mel bins. Each unit lasts ``frames_per_unit`` mel frames.
Why more than one: Griffin-Lim needs overlapping
frames; with the mel hop equal to the unit hop (640 samples at 25 Hz) even the *true* mel of
LJ Speech test clips resynthesises to 48.6 % WER (pocketsphinx), against 31.0 % at a 10 ms
hop and 26.1 % for the recordings, so the default is a 10 ms mel hop (4 frames per 25 Hz unit,
2 per 50 Hz unit). Loss: L1 on natural-log mel, normalised per bin by the training set's mean
and standard deviation (kept as buffers in the net).
Deduplicated units (``train_vocoder(durations=...)``) are first expanded to one unit per
frame, by the reference durations in training and by a duration model kept in the vocoder
(`lst.vocoder.duration`) at synthesis, as GSLM's unit-to-speech does.

Post-filter (``mel_postfilter``): an L1 regressor predicts the conditional median of the mel
frame given the units, which is over-smoothed (flat formants, little frame-to-frame variation).
Two classic remedies can be chosen at training or synthesis time: "knn" (kNN-VC, Baas et al.
2023) replaces every predicted frame by the mean of its ``knn_k`` nearest *real* training frames
(normalised log-mel, L2; "knn_unit": only among frames of the same unit and position inside it),
so the output is made of real spectra; the frame pool is stored in the checkpoint. "gv" (the
global-variance post-filter of HMM speech synthesis) stretches each utterance's per-bin deviation
from its mean so that its variance matches the training utterances' average. Measured on LJ
Speech with 50 Hz MFCC k-means units (egs/ljspeech/tts1/RESULTS.md), neither lowers the
pocketsphinx WER of the resynthesis (on test both are 5 points worse than none), so the default
stays "none": the loss is in what the units carry, not in the smoothing.

Pitch (``pitch_bins`` > 0, off by default): FastSpeech 2's pitch adaptor. A small predictor on the
mel-rate states learns each frame's voicing and log F0 (pYIN on the training audio, `pitch_track`);
the mel net adds an embedding of the quantised pitch, the true pitch in training and the predicted
one at synthesis. The idea: an L1 net cannot draw harmonics whose spacing it does not know, and
Griffin-Lim of a mel without harmonics sounds whispered. On LJ Speech it did not help: 73.5 %
pocketsphinx WER on the valid clips with the predicted pitch and 72.6 % with the recordings' own
pitch, against 63.5 % without (egs/ljspeech/tts1/RESULTS.md, "Where the vocoder loses").
"""
import logging
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from lst.vocoder.duration import UnitDurationModel

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
LOG_FLOOR = 1e-5


class VocoderInputError(ValueError):
    """Units the vocoder cannot synthesise (ids out of range, empty, not integers)."""


@dataclass
class MelConfig:
    sample_rate: int = SAMPLE_RATE
    unit_rate_hz: float = 50.0
    n_fft: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    frames_per_unit: int = 1  # mel frames per unit (the mel hop is the unit hop / this)

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate / (self.unit_rate_hz * self.frames_per_unit)))


def default_frames_per_unit(unit_rate_hz: float, mel_hop_ms: float = 10.0) -> int:
    """Mel frames per unit for a mel hop of about ``mel_hop_ms`` (25 Hz -> 4, 50 Hz -> 2)."""
    return max(1, int(round(1000.0 / unit_rate_hz / mel_hop_ms)))


def log_mel(wav: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """(n,) float samples -> (frames, n_mels) natural-log mel, one frame per mel hop
    (``frames_per_unit`` frames per unit).

    Frame i is centred on sample i*hop + hop/2 (the middle of its span), so frames
    i*frames_per_unit .. (i+1)*frames_per_unit - 1 line up with unit i."""
    import librosa

    half = cfg.hop // 2
    padded = np.pad(wav.astype(np.float32), (0, half))[half:] if len(wav) > half else wav.astype(np.float32)
    mel = librosa.feature.melspectrogram(y=padded, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop,
                                         win_length=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
                                         power=1.0, center=True)
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def griffin_lim(logmel: np.ndarray, cfg: MelConfig, n_iter: int = 32) -> np.ndarray:
    """(frames, n_mels) natural-log mel -> 16 kHz audio (peak 0.9) by Griffin-Lim at cfg's hop."""
    import librosa

    stft = librosa.feature.inverse.mel_to_stft(np.exp(logmel.T), sr=cfg.sample_rate, n_fft=cfg.n_fft, power=1.0,
                                               fmin=cfg.fmin, fmax=cfg.fmax)
    # Griffin-Lim starts from a random phase: seeded, so synthesis is reproducible
    wav = librosa.griffinlim(stft, n_iter=n_iter, hop_length=cfg.hop, win_length=cfg.n_fft, n_fft=cfg.n_fft,
                             center=True, random_state=0)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return (wav / peak * 0.9 if peak > 0 else wav).astype(np.float32)


PITCH_FMIN, PITCH_FMAX = 60.0, 500.0


def pitch_track(wav: np.ndarray, cfg: MelConfig, n_frames: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(n,) float samples -> (log F0 per mel frame (0 where unvoiced), voiced flags), framed like
    `log_mel` (frame i centred on sample i*hop + hop/2); ``n_frames``: cut or pad (unvoiced) to that
    many frames. librosa's pYIN with a coarse pitch grid (0.2 semitone steps, 20 thresholds): about
    20x real time on one core instead of 3.5x."""
    lf0, voiced = _pitch_track(wav, cfg)
    if n_frames is None:
        return lf0, voiced
    pad = (0, max(0, n_frames - len(lf0)))
    return np.pad(lf0, pad)[:n_frames], np.pad(voiced, pad)[:n_frames]


def _pitch_track(wav: np.ndarray, cfg: MelConfig) -> Tuple[np.ndarray, np.ndarray]:
    import librosa

    half = cfg.hop // 2
    padded = np.pad(wav.astype(np.float32), (0, half))[half:] if len(wav) > half else wav.astype(np.float32)
    if len(padded) < cfg.n_fft // 2 + 1:  # pyin needs a few frames; a tiny clip is unvoiced
        n = len(log_mel(wav, cfg))
        return np.zeros(n, np.float32), np.zeros(n, bool)
    f0, voiced, _ = librosa.pyin(padded, fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=cfg.sample_rate, frame_length=cfg.n_fft,
                                 hop_length=cfg.hop, center=True, resolution=0.2, n_thresholds=20)
    voiced = np.asarray(voiced, bool) & np.isfinite(f0)
    return np.where(voiced, np.log(np.where(voiced, f0, 1.0)), 0.0).astype(np.float32), voiced


def pitch_bin(log_f0: torch.Tensor, voiced: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Quantise log F0 to ``n_bins`` equal log-frequency bins over [PITCH_FMIN, PITCH_FMAX]
    (ids 1..n_bins); unvoiced frames get id 0."""
    lo, hi = np.log(PITCH_FMIN), np.log(PITCH_FMAX)
    ids = ((log_f0 - lo) / (hi - lo) * n_bins).floor().long().clamp(0, n_bins - 1) + 1
    return torch.where(voiced, ids, torch.zeros_like(ids))


class ConvBlock(nn.Module):
    def __init__(self, d: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, kernel, padding=kernel // 2)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, T, d)
        y = self.conv(self.norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.act(y))


class UnitMelNet(nn.Module):
    def __init__(self, n_units: int, n_mels: int = 80, d: int = 128, n_layers: int = 4, kernel: int = 5,
                 dropout: float = 0.1, frames_per_unit: int = 1, post_layers: int = 2, pitch_bins: int = 0):
        super().__init__()
        self.n_units = n_units
        self.frames_per_unit = frames_per_unit
        self.pitch_bins = pitch_bins
        self.embed = nn.Embedding(n_units, d)
        self.blocks = nn.ModuleList([ConvBlock(d, kernel, dropout) for _ in range(n_layers)])
        if frames_per_unit > 1:  # (a net with one frame per unit has no mel-rate part: old checkpoints load)
            self.sub_pos = nn.Embedding(frames_per_unit, d)
            self.post = nn.ModuleList([ConvBlock(d, kernel, dropout) for _ in range(post_layers)])
        if pitch_bins:  # FastSpeech 2's variance adaptor for pitch: a predictor, and an embedding of the pitch used
            self.pitch_predictor = nn.Sequential(ConvBlock(d, kernel, dropout), nn.LayerNorm(d), nn.Linear(d, 2))
            self.pitch_embed = nn.Embedding(pitch_bins + 1, d)  # id 0: unvoiced
            self.register_buffer("log_f0_mean", torch.zeros(()))
            self.register_buffer("log_f0_std", torch.ones(()))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, n_mels)
        # per-bin log-mel statistics of the training data: the net predicts normalised mels
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))

    def frame_states(self, units: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T * f, d)
        """States at the mel rate before the mel-rate convolutions: unit states repeated
        ``frames_per_unit`` times plus the frame's position inside its unit."""
        x = self.embed(units)  # (B, T, d)
        for b in self.blocks:
            x = b(x)
        f = self.frames_per_unit
        if f > 1:
            pos = torch.arange(x.shape[1] * f, device=x.device) % f
            x = x.repeat_interleave(f, dim=1) + self.sub_pos(pos)  # (B, T * f, d)
        return x

    def predict_pitch(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, F, d) frame states -> (voicing logit, normalised log F0), each (B, F)."""
        out = self.pitch_predictor(x)
        return out[..., 0], out[..., 1]

    def decode(self, x: torch.Tensor, pitch_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, F, d) frame states [+ (B, F) pitch ids] -> (B, F, n_mels) normalised log-mel."""
        if self.pitch_bins:
            x = x + self.pitch_embed(pitch_ids)
        if self.frames_per_unit > 1:
            for b in self.post:
                x = b(x)
        return self.out(self.norm(x))

    def pitch_ids_predicted(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, d) frame states -> (B, F) pitch ids from the net's own pitch predictor."""
        logit, z = self.predict_pitch(x)
        return pitch_bin(z * self.log_f0_std + self.log_f0_mean, logit > 0, self.pitch_bins)

    def forward_normalized(self, units: torch.Tensor, pitch_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) units [+ (B, T * f) pitch ids; default: predicted] -> (B, T * f, n_mels)."""
        x = self.frame_states(units)
        if self.pitch_bins and pitch_ids is None:
            pitch_ids = self.pitch_ids_predicted(x)
        return self.decode(x, pitch_ids)

    def forward(self, units: torch.Tensor, pitch_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) units [+ (B, T * f) pitch ids; default: predicted] -> (B, T * f, n_mels) log-mel."""
        return self.forward_normalized(units, pitch_ids) * self.mel_std + self.mel_mean


def check_units(units, n_units: int, utt: str) -> np.ndarray:
    """Validate one utterance's units; raises VocoderInputError naming the utterance."""
    try:
        arr = np.asarray([int(u) for u in units], dtype=np.int64)
    except (TypeError, ValueError):
        raise VocoderInputError(f"{utt}: units must be integers, got {list(units)[:5]}...") from None
    if arr.size == 0:
        raise VocoderInputError(f"{utt}: no units to synthesise")
    bad = arr[(arr < 0) | (arr >= n_units)]
    if bad.size:
        raise VocoderInputError(
            f"{utt}: unit ids {sorted(set(bad.tolist()))[:10]} out of range [0, {n_units}) "
            f"(the vocoder was trained on {n_units} units; wrong k-means model or token list?)")
    return arr


MEL_POSTFILTERS = ("none", "knn", "knn_unit", "gv")


def _nearest(query: torch.Tensor, cand: torch.Tensor, k: int, chunk: int = 65536) -> torch.Tensor:
    """Mean of the k nearest (L2) rows of ``cand`` for each row of ``query``; float32 (T, D).
    The candidates are scanned in chunks so that the distance matrix stays small (T x chunk)."""
    k = min(k, len(cand))
    q2 = (query * query).sum(1, keepdim=True)
    best_d, best_i = None, None
    for start in range(0, len(cand), chunk):
        c = cand[start:start + chunk].float()
        d = q2 - 2.0 * query @ c.T + (c * c).sum(1)[None]
        kk = min(k, d.shape[1])
        dv, di = d.topk(kk, dim=1, largest=False)
        di = di + start
        if best_d is not None:
            dv, di = torch.cat([best_d, dv], 1), torch.cat([best_i, di], 1)
            dv, order = dv.topk(min(k, dv.shape[1]), dim=1, largest=False)
            di = di.gather(1, order)
        best_d, best_i = dv, di
    return cand[best_i.reshape(-1)].float().reshape(len(query), k, -1).mean(1)


def knn_match(pred: np.ndarray, pool: np.ndarray, k: int = 4, pred_keys: Optional[np.ndarray] = None,
              pool_keys: Optional[np.ndarray] = None, chunk: int = 65536) -> np.ndarray:
    """kNN-VC matching: each row of ``pred`` (T, D) -> the mean of its ``k`` nearest (L2) rows of
    ``pool`` (N, D, any float dtype; real frames). With keys (e.g. unit id and position inside the
    unit), a frame is matched only among pool frames of its own key (all frames when its key has
    none in the pool). ``chunk``: pool rows per distance matrix (memory)."""
    pred = np.asarray(pred, dtype=np.float32)
    if pred.ndim != 2 or pool.ndim != 2 or pred.shape[1] != pool.shape[1]:
        raise ValueError(f"knn_match: pred {pred.shape} and pool {pool.shape} must be (T, D) and (N, D)")
    if len(pool) == 0 or k < 1:
        raise ValueError(f"knn_match: need a non-empty pool and k >= 1 (pool {len(pool)} frames, k={k})")
    q, P = torch.from_numpy(pred), torch.as_tensor(pool)
    if pred_keys is None or pool_keys is None:
        return _nearest(q, P, k, chunk).numpy()
    pred_keys, pool_keys = np.asarray(pred_keys), np.asarray(pool_keys)
    if len(pred_keys) != len(pred) or len(pool_keys) != len(pool):
        raise ValueError("knn_match: one key per frame of pred and of pool")
    order = np.argsort(pool_keys, kind="stable")
    sorted_keys = pool_keys[order]
    out = torch.empty_like(q)
    for key in np.unique(pred_keys):
        rows = torch.from_numpy(np.nonzero(pred_keys == key)[0])
        lo, hi = np.searchsorted(sorted_keys, key, "left"), np.searchsorted(sorted_keys, key, "right")
        cand = P[torch.from_numpy(order[lo:hi])] if hi > lo else P
        out[rows] = _nearest(q[rows], cand, k, chunk)
    return out.numpy()


def gv_postfilter(pred: np.ndarray, target_std: np.ndarray) -> np.ndarray:
    """Global-variance post-filter: (T, D) frames whose per-bin standard deviation over time is
    scaled to ``target_std`` (D,) around the utterance's own per-bin mean."""
    pred = np.asarray(pred, dtype=np.float32)
    target_std = np.asarray(target_std, dtype=np.float32)
    if pred.ndim != 2 or target_std.shape != (pred.shape[1],):
        raise ValueError(f"gv_postfilter: pred {pred.shape} needs a target_std of shape ({pred.shape[-1]},)")
    mean = pred.mean(0, keepdims=True)
    std = pred.std(0, keepdims=True)
    return (mean + (pred - mean) * (target_std[None] / np.maximum(std, 1e-5))).astype(np.float32)


def frame_keys(units: np.ndarray, frames_per_unit: int) -> np.ndarray:
    """The key of each mel frame for "knn_unit": its unit id and its position inside the unit."""
    units = np.asarray(units, dtype=np.int64)
    return (np.repeat(units, frames_per_unit) * frames_per_unit
            + np.tile(np.arange(frames_per_unit), len(units))).astype(np.int32)


class UnitVocoder:
    """A trained UnitMelNet with its mel settings; `synthesize` gives 16 kHz audio.

    ``mel_postfilter`` (MEL_POSTFILTERS): applied to the net's normalised frames before
    Griffin-Lim; "knn" / "knn_unit" need the training frame pool (``postfilter_data["pool"]``
    and, for "knn_unit", ``"pool_keys"``), "gv" needs ``postfilter_data["gv_std"]``."""

    def __init__(self, net: UnitMelNet, cfg: MelConfig, net_conf: Dict, griffin_lim_iters: int = 32,
                 mel_postfilter: str = "none", knn_k: int = 4, postfilter_data: Optional[Dict] = None,
                 duration_model: Optional[UnitDurationModel] = None):
        self.net, self.cfg, self.net_conf = net.eval(), cfg, net_conf
        # set: the vocoder takes deduplicated units and puts their durations back (`expand_units`)
        self.duration_model = duration_model
        self.griffin_lim_iters = griffin_lim_iters
        self.postfilter_data = dict(postfilter_data or {})
        if mel_postfilter not in MEL_POSTFILTERS:
            raise ValueError(f"mel_postfilter must be one of {MEL_POSTFILTERS}, got {mel_postfilter!r}")
        need = {"knn": ["pool"], "knn_unit": ["pool", "pool_keys"], "gv": ["gv_std"]}.get(mel_postfilter, [])
        missing = [x for x in need if x not in self.postfilter_data]
        if missing:
            raise ValueError(f"mel_postfilter {mel_postfilter!r} needs {missing} in the vocoder, which has "
                             f"{sorted(self.postfilter_data) or 'none'} (train it with --mel_postfilter "
                             f"{mel_postfilter}, or use another post-filter)")
        if int(knn_k) < 1:
            raise ValueError(f"knn_k must be >= 1, got {knn_k}")
        self.mel_postfilter, self.knn_k = mel_postfilter, int(knn_k)

    @property
    def n_units(self) -> int:
        return self.net.n_units

    def save(self, path: str):
        ckpt = {"mel": asdict(self.cfg), "net_conf": self.net_conf, "state_dict": self.net.state_dict(),
                "postfilter": {"mel_postfilter": self.mel_postfilter, "knn_k": self.knn_k, **self.postfilter_data}}
        if self.duration_model is not None:
            ckpt["duration_model"] = self.duration_model.state()
        torch.save(ckpt, path)

    @classmethod
    def load(cls, path: str, griffin_lim_iters: int = 32, mel_postfilter: Optional[str] = None,
             knn_k: Optional[int] = None) -> "UnitVocoder":
        """``mel_postfilter`` / ``knn_k``: None keeps the checkpoint's own ("none" for checkpoints
        written before post-filters existed)."""
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        net = UnitMelNet(**ckpt["net_conf"])
        net.load_state_dict(ckpt["state_dict"])
        pf = dict(ckpt.get("postfilter", {}))
        default, default_k = pf.pop("mel_postfilter", "none"), pf.pop("knn_k", 4)
        return cls(net, MelConfig(**ckpt["mel"]), ckpt["net_conf"], griffin_lim_iters,
                   mel_postfilter=default if mel_postfilter is None else mel_postfilter,
                   knn_k=default_k if knn_k is None else knn_k, postfilter_data=pf,
                   duration_model=UnitDurationModel.from_state(ckpt["duration_model"])
                   if "duration_model" in ckpt else None)

    @property
    def deduplicated(self) -> bool:
        """True when the vocoder takes run-length deduplicated units (it has a duration model)."""
        return self.duration_model is not None

    def expand_units(self, units: Sequence[int], utt: str = "<utt>",
                     durations: Optional[Sequence[int]] = None) -> np.ndarray:
        """Deduplicated units -> one unit per frame, with the given durations (e.g. the reference's)
        or the duration model's. A frame-rate vocoder returns the units unchanged."""
        arr = check_units(units, self.n_units, utt)
        if not self.deduplicated:
            if durations is not None:
                raise VocoderInputError(f"{utt}: durations given, but this vocoder takes one unit per frame")
            return arr
        if durations is None:
            durs = self.duration_model.predict(arr)
        else:
            durs = np.asarray([int(x) for x in durations], dtype=np.int64)
            if len(durs) != len(arr) or (durs < 1).any():
                raise VocoderInputError(f"{utt}: {len(durs)} durations for {len(arr)} units (each must be >= 1)")
        return np.repeat(arr, durs)

    def postfilter(self, norm_mel: np.ndarray, units: np.ndarray) -> np.ndarray:
        """The post-filter on (frames, n_mels) normalised log-mel predicted for ``units``."""
        d = self.postfilter_data
        if self.mel_postfilter == "knn":
            return knn_match(norm_mel, d["pool"], self.knn_k)
        if self.mel_postfilter == "knn_unit":
            keys = frame_keys(units, self.net.frames_per_unit)[:len(norm_mel)]
            return knn_match(norm_mel, d["pool"], self.knn_k, keys, d["pool_keys"].numpy())
        if self.mel_postfilter == "gv":
            return gv_postfilter(norm_mel, d["gv_std"].numpy())
        return norm_mel

    @torch.no_grad()
    def units_to_mel(self, units: Sequence[int], utt: str = "<utt>") -> np.ndarray:
        arr = check_units(units, self.n_units, utt)
        norm = self.postfilter(self.net.forward_normalized(torch.as_tensor(arr)[None])[0].numpy(), arr)
        return norm * self.net.mel_std.numpy() + self.net.mel_mean.numpy()

    def mel_to_wav(self, logmel: np.ndarray) -> np.ndarray:
        return griffin_lim(logmel, self.cfg, self.griffin_lim_iters)

    def synthesize(self, units: Sequence[int], utt: str = "<utt>",
                   durations: Optional[Sequence[int]] = None) -> np.ndarray:
        """Units (deduplicated ones for a vocoder with a duration model) -> 16 kHz audio."""
        return self.mel_to_wav(self.units_to_mel(self.expand_units(units, utt, durations), utt))


def postfilter_data(units_mels: Sequence[Tuple[np.ndarray, np.ndarray]], net: UnitMelNet,
                    keep_pool: bool) -> Dict[str, torch.Tensor]:
    """What the post-filters need from the training set: ``gv_std``, the mean over utterances of
    each bin's standard deviation over time (normalised log-mel; a few hundred bytes, always kept),
    and with ``keep_pool`` every normalised frame (float16, 2 bytes x n_mels per frame: 34 MB for
    LJ Speech's 325 clips) with its ``frame_keys`` as ``pool`` / ``pool_keys``."""
    mean, std = net.mel_mean.numpy(), net.mel_std.numpy()
    norm = [(m - mean) / std for _, m in units_mels]
    out = {"gv_std": torch.as_tensor(np.mean([x.std(0) for x in norm], axis=0), dtype=torch.float32)}
    if keep_pool:
        out["pool"] = torch.as_tensor(np.concatenate(norm)).to(torch.float16)
        out["pool_keys"] = torch.as_tensor(np.concatenate([frame_keys(u, net.frames_per_unit) for u, _ in units_mels]))
    return out


def train_vocoder(pairs: Iterable[Tuple[str, np.ndarray, np.ndarray]], n_units: int, unit_rate_hz: float,
                  steps: int = 400, lr: float = 2e-3, d: int = 128, n_layers: int = 4, seed: int = 0,
                  max_minutes: Optional[float] = None, log_every: int = 50,
                  frames_per_unit: Optional[int] = None, mel_postfilter: str = "none",
                  knn_k: int = 4, pitch_bins: int = 0,
                  durations: Optional[Dict[str, Sequence[int]]] = None,
                  duration_min_count: int = 3) -> Tuple[UnitVocoder, Dict]:
    """pairs: (utt, wav 16 kHz float32, units). Full-batch L1 regression (small corpora);
    for larger ones each step takes a random batch of 16 utterances. ``frames_per_unit``:
    mel frames per unit (None: a 10 ms mel hop, `default_frames_per_unit`). ``mel_postfilter``
    / ``knn_k``: the vocoder's default post-filter; "knn" and "knn_unit" store the training
    frames in it (`postfilter_data`). ``pitch_bins`` > 0: pitch conditioning (see `UnitMelNet`);
    each clip's F0 is tracked (`pitch_track`), the mel net is trained on the true pitch and the
    pitch predictor on it (voicing: cross-entropy, log F0: L1 on voiced frames), and synthesis
    uses the predicted pitch. ``durations`` (utt -> frames per unit): the units are deduplicated;
    each clip's are expanded to frames for the mel net, and a duration model
    (`lst.vocoder.duration.UnitDurationModel`, ``duration_min_count``) is fitted on them and kept
    in the vocoder. A clip without durations is skipped with a warning."""
    if mel_postfilter not in MEL_POSTFILTERS:
        raise ValueError(f"mel_postfilter must be one of {MEL_POSTFILTERS}, got {mel_postfilter!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    f = frames_per_unit or default_frames_per_unit(unit_rate_hz)
    cfg = MelConfig(unit_rate_hz=float(unit_rate_hz), frames_per_unit=f)
    data: List[Tuple[np.ndarray, np.ndarray]] = []
    pitch: List[Tuple[np.ndarray, np.ndarray]] = []  # (log F0, voiced) per mel frame, with pitch_bins
    t_data = time.time()
    dedup_pairs = []  # (deduplicated units, durations), for the duration model
    for utt, wav, units in pairs:
        u = check_units(units, n_units, utt)
        if durations is not None:
            if utt not in durations:
                logger.warning(f"{utt}: no durations for its deduplicated units; skipped")
                continue
            dur = np.asarray([int(x) for x in durations[utt]], dtype=np.int64)
            if len(dur) != len(u) or (dur < 1).any():
                raise VocoderInputError(f"{utt}: {len(dur)} durations for {len(u)} units (each must be >= 1)")
            dedup_pairs.append((u, dur))
            u = np.repeat(u, dur)
        m = log_mel(wav, cfg)
        n = min(len(u), len(m) // f)  # whole units only
        if n == 0:
            logger.warning(f"{utt}: no frames; skipped")
            continue
        if abs(len(u) - len(m) / f) > 2:
            logger.warning(f"{utt}: {len(u)} units vs {len(m)} mel frames ({f} per unit); using the first {n} units")
        data.append((u[:n], m[:n * f]))
        if pitch_bins:
            pitch.append(pitch_track(wav, cfg, n * f))
            if len(pitch) % 50 == 0:
                logger.info(f"pitch tracked for {len(pitch)} clips ({time.time() - t_data:.0f} s)")
    if not data:
        raise ValueError("train_vocoder: no usable (wav, units) pair")
    net_conf = dict(n_units=n_units, n_mels=cfg.n_mels, d=d, n_layers=n_layers, frames_per_unit=f)
    if pitch_bins:
        net_conf["pitch_bins"] = int(pitch_bins)
    net = UnitMelNet(**net_conf)
    allm = np.concatenate([x[1] for x in data])
    net.mel_mean.copy_(torch.as_tensor(allm.mean(0)))
    net.mel_std.copy_(torch.as_tensor(allm.std(0) + 1e-3))
    if pitch_bins:
        voiced_f0 = np.concatenate([lf0[vo] for lf0, vo in pitch])
        if voiced_f0.size < 2:
            raise ValueError("train_vocoder: pitch_bins needs voiced speech; pYIN found (almost) none")
        net.log_f0_mean.fill_(float(voiced_f0.mean()))
        net.log_f0_std.fill_(float(voiced_f0.std() + 1e-3))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0, losses, pitch_losses = time.time(), [], []
    net.train()
    for step in range(steps):
        idx = rng.choice(len(data), size=min(16, len(data)), replace=False)
        T = max(len(data[i][0]) for i in idx)
        u = torch.zeros(len(idx), T, dtype=torch.long)
        m = torch.zeros(len(idx), T * f, cfg.n_mels)
        mask = torch.zeros(len(idx), T * f, 1)
        lf0 = torch.zeros(len(idx), T * f)
        vo = torch.zeros(len(idx), T * f, dtype=torch.bool)
        for j, i in enumerate(idx):
            n = len(data[i][0])
            u[j, :n], m[j, :n * f], mask[j, :n * f] = torch.as_tensor(data[i][0]), torch.as_tensor(data[i][1]), 1
            if pitch_bins:
                lf0[j, :n * f], vo[j, :n * f] = torch.as_tensor(pitch[i][0]), torch.as_tensor(pitch[i][1])
        target = (m - net.mel_mean) / net.mel_std
        x = net.frame_states(u)
        pred = net.decode(x, pitch_bin(lf0, vo, pitch_bins) if pitch_bins else None)  # teacher-forced pitch
        loss = ((pred - target).abs() * mask).sum() / (mask.sum() * cfg.n_mels)
        mel_l1 = loss.item()
        if pitch_bins:
            logit, z = net.predict_pitch(x)
            frames = mask[..., 0]
            voicing = (nn.functional.binary_cross_entropy_with_logits(logit, vo.float(), reduction="none")
                       * frames).sum() / frames.sum()
            z_true = (lf0 - net.log_f0_mean) / net.log_f0_std
            vf = vo.float() * frames
            f0_l1 = ((z - z_true).abs() * vf).sum() / vf.sum().clamp(min=1.0)
            pitch_losses.append((voicing.item(), f0_l1.item()))
            loss = loss + voicing + f0_l1
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(mel_l1)
        if log_every and (step + 1) % log_every == 0:
            msg = f"vocoder step {step + 1}/{steps}: L1 {np.mean(losses[-log_every:]):.4f}"
            if pitch_bins:
                v, z = np.mean(pitch_losses[-log_every:], axis=0)
                msg += f", voicing BCE {v:.4f}, log-F0 L1 {z:.4f} (normalised)"
            logger.info(msg)
        if max_minutes and time.time() - t0 > 60 * max_minutes:
            logger.info(f"vocoder: stopped at step {step + 1} (max_minutes={max_minutes})")
            break
    info = {"steps": len(losses), "initial_l1": losses[0], "final_l1": float(np.mean(losses[-10:])), "train_seconds": time.time() - t0,
            "n_utts": len(data), "n_frames": int(sum(len(x[0]) for x in data)), "frames_per_unit": f,
            "params": sum(p.numel() for p in net.parameters()), "mel_postfilter": mel_postfilter,
            "knn_k": knn_k, "pitch_bins": int(pitch_bins), "data_seconds": t0 - t_data}
    if pitch_bins:
        info["final_voicing_bce"], info["final_log_f0_l1"] = (float(x) for x in np.mean(pitch_losses[-10:], axis=0))
    pf = postfilter_data(data, net, keep_pool=mel_postfilter.startswith("knn"))
    dur_model = None
    if durations is not None:
        dur_model = UnitDurationModel.fit(dedup_pairs, n_units, duration_min_count)
        info["duration_model"] = {"contexts": len(dur_model.context_mean), "min_count": duration_min_count,
                                  "mean_frames": dur_model.global_mean, **dur_model.error(dedup_pairs)}
    return UnitVocoder(net, cfg, net_conf, mel_postfilter=mel_postfilter, knn_k=knn_k, postfilter_data=pf,
                       duration_model=dur_model), info
