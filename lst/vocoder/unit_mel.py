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
LayerNorm, GELU) -> linear to `n_mels` log-mel bins. Duration is fixed: one mel frame per
unit, i.e. the mel hop equals the unit hop (320 samples at 50 Hz, 640 at 25 Hz), so units
need no duration model (they are not deduplicated). Loss: L1 on natural-log mel, normalised
per bin by the training set's mean and standard deviation (kept as buffers in the net).
"""
import logging
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

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

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate / self.unit_rate_hz))


def log_mel(wav: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """(n,) float samples -> (frames, n_mels) natural-log mel, one frame per unit hop.

    Frame i is centred on sample i*hop + hop/2 (the middle of unit frame i's span), so frame
    i lines up with unit i."""
    import librosa

    half = cfg.hop // 2
    padded = np.pad(wav.astype(np.float32), (0, half))[half:] if len(wav) > half else wav.astype(np.float32)
    mel = librosa.feature.melspectrogram(y=padded, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop,
                                         win_length=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
                                         power=1.0, center=True)
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


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
                 dropout: float = 0.1):
        super().__init__()
        self.n_units = n_units
        self.embed = nn.Embedding(n_units, d)
        self.blocks = nn.ModuleList([ConvBlock(d, kernel, dropout) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, n_mels)
        # per-bin log-mel statistics of the training data: the net predicts normalised mels
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))

    def forward_normalized(self, units: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, n_mels)
        x = self.embed(units)
        for b in self.blocks:
            x = b(x)
        return self.out(self.norm(x))

    def forward(self, units: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, n_mels) log-mel
        return self.forward_normalized(units) * self.mel_std + self.mel_mean


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


class UnitVocoder:
    """A trained UnitMelNet with its mel settings; `synthesize` gives 16 kHz audio."""

    def __init__(self, net: UnitMelNet, cfg: MelConfig, net_conf: Dict, griffin_lim_iters: int = 32):
        self.net, self.cfg, self.net_conf = net.eval(), cfg, net_conf
        self.griffin_lim_iters = griffin_lim_iters

    @property
    def n_units(self) -> int:
        return self.net.n_units

    def save(self, path: str):
        torch.save({"mel": asdict(self.cfg), "net_conf": self.net_conf, "state_dict": self.net.state_dict()}, path)

    @classmethod
    def load(cls, path: str, griffin_lim_iters: int = 32) -> "UnitVocoder":
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        net = UnitMelNet(**ckpt["net_conf"])
        net.load_state_dict(ckpt["state_dict"])
        return cls(net, MelConfig(**ckpt["mel"]), ckpt["net_conf"], griffin_lim_iters)

    @torch.no_grad()
    def units_to_mel(self, units: Sequence[int], utt: str = "<utt>") -> np.ndarray:
        arr = check_units(units, self.n_units, utt)
        return self.net(torch.as_tensor(arr)[None])[0].numpy()

    def mel_to_wav(self, logmel: np.ndarray) -> np.ndarray:
        import librosa

        c = self.cfg
        stft = librosa.feature.inverse.mel_to_stft(np.exp(logmel.T), sr=c.sample_rate, n_fft=c.n_fft, power=1.0,
                                                   fmin=c.fmin, fmax=c.fmax)
        # Griffin-Lim starts from a random phase: seeded, so synthesis is reproducible
        wav = librosa.griffinlim(stft, n_iter=self.griffin_lim_iters, hop_length=c.hop, win_length=c.n_fft,
                                 n_fft=c.n_fft, center=True, random_state=0)
        peak = float(np.abs(wav).max()) if wav.size else 0.0
        return (wav / peak * 0.9 if peak > 0 else wav).astype(np.float32)

    def synthesize(self, units: Sequence[int], utt: str = "<utt>") -> np.ndarray:
        return self.mel_to_wav(self.units_to_mel(units, utt))


def train_vocoder(pairs: Iterable[Tuple[str, np.ndarray, np.ndarray]], n_units: int, unit_rate_hz: float,
                  steps: int = 400, lr: float = 2e-3, d: int = 128, n_layers: int = 4, seed: int = 0,
                  max_minutes: Optional[float] = None, log_every: int = 50) -> Tuple[UnitVocoder, Dict]:
    """pairs: (utt, wav 16 kHz float32, units). Full-batch L1 regression (small corpora);
    for larger ones each step takes a random batch of 16 utterances."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = MelConfig(unit_rate_hz=float(unit_rate_hz))
    data: List[Tuple[np.ndarray, np.ndarray]] = []
    for utt, wav, units in pairs:
        u = check_units(units, n_units, utt)
        m = log_mel(wav, cfg)
        n = min(len(u), len(m))
        if n == 0:
            logger.warning(f"{utt}: no frames; skipped")
            continue
        if abs(len(u) - len(m)) > 2:
            logger.warning(f"{utt}: {len(u)} units vs {len(m)} mel frames; using the first {n}")
        data.append((u[:n], m[:n]))
    if not data:
        raise ValueError("train_vocoder: no usable (wav, units) pair")
    net_conf = dict(n_units=n_units, n_mels=cfg.n_mels, d=d, n_layers=n_layers)
    net = UnitMelNet(**net_conf)
    allm = np.concatenate([x[1] for x in data])
    net.mel_mean.copy_(torch.as_tensor(allm.mean(0)))
    net.mel_std.copy_(torch.as_tensor(allm.std(0) + 1e-3))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0, losses = time.time(), []
    net.train()
    for step in range(steps):
        idx = rng.choice(len(data), size=min(16, len(data)), replace=False)
        T = max(len(data[i][0]) for i in idx)
        u = torch.zeros(len(idx), T, dtype=torch.long)
        m = torch.zeros(len(idx), T, cfg.n_mels)
        mask = torch.zeros(len(idx), T, 1)
        for j, i in enumerate(idx):
            n = len(data[i][0])
            u[j, :n], m[j, :n], mask[j, :n] = torch.as_tensor(data[i][0]), torch.as_tensor(data[i][1]), 1
        target = (m - net.mel_mean) / net.mel_std
        loss = ((net.forward_normalized(u) - target).abs() * mask).sum() / (mask.sum() * cfg.n_mels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            logger.info(f"vocoder step {step + 1}/{steps}: L1 {np.mean(losses[-log_every:]):.4f}")
        if max_minutes and time.time() - t0 > 60 * max_minutes:
            logger.info(f"vocoder: stopped at step {step + 1} (max_minutes={max_minutes})")
            break
    info = {"steps": len(losses), "initial_l1": losses[0], "final_l1": float(np.mean(losses[-10:])), "train_seconds": time.time() - t0,
            "n_utts": len(data), "n_frames": int(sum(len(x[0]) for x in data)),
            "params": sum(p.numel() for p in net.parameters())}
    return UnitVocoder(net, cfg, net_conf), info
