"""Phonetic units: a frame phone classifier trained on forced alignments, and its posteriors.

Why: units clustered from MFCCs (100 k-means clusters) carry too little phonetic content for
an intelligible resynthesis (LJ Speech tts1: 55 % WER from reference units against 26 % for the
recordings), and HuBERT iterations trained on this machine's 1.4 h do worse. Supervised
("semantic") speech tokens are the usual remedy when little audio is available: CosyVoice's
S3 tokens quantise an ASR encoder, PPG-based conversion uses phone posteriors. Here a small
classifier learns each 50 Hz frame's phone from pocketsphinx forced alignments of the training
set (``lst.bin.ps_align``: the CMU dictionary, so text is needed only to train it), and its
posteriors are the features that k-means turns into units (``--feature_type phone_posterior``).
Units then need only audio again. They are not textless: they are learnt from transcripts.

Model: the recipe's 39-dim MFCC (``MfccExtractor``, 50 Hz grid), normalised with the training
mean/std, -> conv (kernel 5) -> 2-layer BLSTM -> linear over the phone set (incl. ``sil``).
Frame ``i`` is labelled with the phone whose span holds its centre ``(i + 0.5) / 50`` s (the
grid of ``lst.units.features``); frames outside every span are ignored.
"""
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from lst.data.timings import WordTiming, unit_centres
from lst.units.features import NATIVE_RATE_HZ, FeatureError, MfccExtractor, num_frames_50hz

logger = logging.getLogger(__name__)
IGNORE = -100  # CrossEntropyLoss's ignore_index: frames no span covers


def frame_phone_labels(spans: Sequence[WordTiming], n_frames: int, phone_index: Dict[str, int]) -> np.ndarray:
    """(n_frames,) int64 phone ids on the 50 Hz grid: the span holding each frame's centre.

    Frames no span covers, and frames of a phone missing from ``phone_index`` (a valid-set phone
    the training set never had), get IGNORE: they count neither in the loss nor in accuracy."""
    labels = np.full(n_frames, IGNORE, dtype=np.int64)
    centres = unit_centres(n_frames, NATIVE_RATE_HZ)
    for span in spans:
        inside = (centres >= span.start) & (centres < span.end)
        labels[inside] = phone_index.get(span.word, IGNORE)
    return labels


@dataclass
class PhoneClassifierConfig:
    n_phones: int
    feat_dim: int = MfccExtractor.dim
    conv_dim: int = 192
    hidden: int = 128  # per direction
    n_layers: int = 2
    dropout: float = 0.2


class PhoneClassifier(nn.Module):
    def __init__(self, cfg: PhoneClassifierConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv1d(cfg.feat_dim, cfg.conv_dim, kernel_size=5, padding=2)
        self.rnn = nn.LSTM(cfg.conv_dim, cfg.hidden, num_layers=cfg.n_layers, batch_first=True,
                           bidirectional=True, dropout=cfg.dropout if cfg.n_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(2 * cfg.hidden, cfg.n_phones)
        self.register_buffer("feat_mean", torch.zeros(cfg.feat_dim))
        self.register_buffer("feat_std", torch.ones(cfg.feat_dim))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T, n_phones) logits
        x = (feats - self.feat_mean) / self.feat_std
        x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T, conv_dim)
        x, _ = self.rnn(self.drop(x))  # (B, T, 2 * hidden)
        return self.out(self.drop(x))


@dataclass
class PhoneExample:
    utt: str
    feats: np.ndarray  # (T, 39)
    labels: np.ndarray  # (T,)


def speed_perturbed(wav: np.ndarray, spans: Sequence[WordTiming], factor: float
                    ) -> Tuple[np.ndarray, List[WordTiming]]:
    """Kaldi/ESPnet speed perturbation: audio played ``factor`` times faster (tempo and pitch),
    i.e. resampled to ``len / factor`` samples, with every span's times divided by ``factor``."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if factor <= 0:
        raise ValueError(f"speed factor must be > 0, got {factor}")
    ratio = Fraction(factor).limit_denominator(100)  # 0.9 -> 9/10: out = in * 10 / 9 samples
    out = resample_poly(wav, ratio.denominator, ratio.numerator).astype(np.float32)
    return out, [WordTiming(s.word, s.start / factor, s.end / factor) for s in spans]


@dataclass
class SpecAugment:
    """SpecAugment-style masking of training crops (Park et al. 2019), in the normalised feature
    space, so a masked value is the training mean: ``time_masks`` spans of at most ``max_time``
    frames and ``feat_masks`` bands of at most ``max_feat`` feature dims per crop."""
    time_masks: int = 2
    max_time: int = 10  # 0.2 s at 50 Hz: shorter than most phones
    feat_masks: int = 2
    max_feat: int = 6

    def __call__(self, feats: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # (T, F) normalised
        feats = feats.copy()
        t, f = feats.shape
        for _ in range(self.time_masks):
            w = int(rng.integers(0, self.max_time + 1))
            start = int(rng.integers(0, max(1, t - w + 1)))
            feats[start:start + w] = 0.0
        for _ in range(self.feat_masks):
            w = int(rng.integers(0, self.max_feat + 1))
            start = int(rng.integers(0, max(1, f - w + 1)))
            feats[:, start:start + w] = 0.0
        return feats


def _batch(examples: Sequence[PhoneExample], rng: np.random.Generator, batch_size: int,
           crop_frames: int, augment: Optional[SpecAugment] = None, mean: Optional[np.ndarray] = None,
           std: Optional[np.ndarray] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """A batch of random crops (at most ``crop_frames`` each), padded with ignored frames;
    ``augment`` masks each crop (``mean``/``std``: the model's input normalisation)."""
    picks = rng.integers(0, len(examples), size=batch_size)
    crops = []
    for i in picks:
        ex = examples[i]
        start = int(rng.integers(0, max(1, len(ex.labels) - crop_frames + 1)))
        f = ex.feats[start:start + crop_frames]
        if augment is not None:
            f = augment((f - mean) / std, rng) * std + mean
        crops.append((f, ex.labels[start:start + crop_frames]))
    t = max(len(lab) for _, lab in crops)
    feats = np.zeros((batch_size, t, crops[0][0].shape[1]), dtype=np.float32)
    labels = np.full((batch_size, t), IGNORE, dtype=np.int64)
    for b, (f, lab) in enumerate(crops):
        feats[b, :len(f)], labels[b, :len(lab)] = f, lab
    return torch.from_numpy(feats), torch.from_numpy(labels)


@torch.no_grad()
def frame_accuracy(model: PhoneClassifier, examples: Sequence[PhoneExample]) -> float:
    """Share of labelled frames whose argmax phone is the aligned one (whole utterances)."""
    model.eval()
    right = total = 0
    for ex in examples:
        pred = model(torch.from_numpy(ex.feats)[None])[0].argmax(-1).numpy()
        keep = ex.labels != IGNORE
        right += int((pred[keep] == ex.labels[keep]).sum())
        total += int(keep.sum())
    model.train()
    return right / max(total, 1)


def train_phone_classifier(train: Sequence[PhoneExample], valid: Sequence[PhoneExample], phones: List[str],
                           steps: int = 1500, batch_size: int = 16, crop_frames: int = 400, lr: float = 2e-3,
                           seed: int = 0, eval_every: int = 250, cfg: Optional[PhoneClassifierConfig] = None,
                           augment: Optional[SpecAugment] = None) -> Tuple[PhoneClassifier, Dict]:
    """Cross-entropy on the aligned frames; AdamW with cosine decay; the checkpoint with the best
    valid frame accuracy is kept (the last one when there is no valid set). ``augment`` masks the
    training crops (SpecAugment)."""
    if not train:
        raise ValueError("no training utterances")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = cfg or PhoneClassifierConfig(n_phones=len(phones))
    model = PhoneClassifier(cfg)
    all_feats = np.concatenate([ex.feats for ex in train])
    model.feat_mean.copy_(torch.from_numpy(all_feats.mean(0)))
    model.feat_std.copy_(torch.from_numpy(all_feats.std(0) + 1e-5))
    mean, std = model.feat_mean.numpy().copy(), model.feat_std.numpy().copy()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    best, best_state, history, t0, run_loss = -1.0, None, [], time.time(), 0.0
    for step in range(1, steps + 1):
        feats, labels = _batch(train, rng, batch_size, crop_frames, augment, mean, std)
        loss = loss_fn(model(feats).reshape(-1, cfg.n_phones), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run_loss += loss.item()
        if step % eval_every == 0 or step == steps:
            n = eval_every if step % eval_every == 0 else step % eval_every
            row = {"step": step, "train_loss": run_loss / n, "seconds": round(time.time() - t0, 1)}
            run_loss = 0.0
            if valid:
                row["valid_frame_acc"] = frame_accuracy(model, valid)
            logger.info("phone classifier step %d/%d: %s", step, steps, row)
            history.append(row)
            score = row.get("valid_frame_acc", step)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    info = {"steps": steps, "history": history, "train_seconds": round(time.time() - t0, 1),
            "n_train_utts": len(train), "n_train_frames": int(sum(len(ex.labels) for ex in train)),
            "n_valid_utts": len(valid), "params": sum(p.numel() for p in model.parameters())}
    if valid:
        info["best_valid_frame_acc"] = best
    return model, info


def save_phone_classifier(model: PhoneClassifier, phones: List[str], path: str, info: Dict) -> None:
    torch.save({"config": asdict(model.cfg), "phones": list(phones), "state_dict": model.state_dict(),
                "info": info, "kind": "lst_phone_classifier"}, path)


def load_phone_classifier(path: str) -> Tuple[PhoneClassifier, List[str]]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise FeatureError(f"cannot read phone classifier {path}: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "lst_phone_classifier":
        raise FeatureError(f"{path} is not a phone classifier of lst.bin.train_phone_classifier")
    model = PhoneClassifier(PhoneClassifierConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt["phones"]


class PhonePosteriorExtractor:
    """Phone posteriors (probabilities, one column per phone) on the 50 Hz grid."""

    feature_type = "phone_posterior"

    def __init__(self, ckpt: str):
        self.model, self.phones = load_phone_classifier(ckpt)
        self.mfcc = MfccExtractor()
        self.dim = len(self.phones)

    @torch.no_grad()
    def __call__(self, wav: np.ndarray) -> np.ndarray:
        if num_frames_50hz(len(wav)) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        feats = torch.from_numpy(self.mfcc(wav))[None]
        return torch.softmax(self.model(feats)[0], dim=-1).numpy().astype(np.float32)
