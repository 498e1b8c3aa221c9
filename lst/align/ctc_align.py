"""Word timings for recorded speech: a small character CTC model + CTC segmentation.

Model: log-mel features (80 bins, 10 ms hop, per-utterance mean/variance normalised) ->
2 Conv1d (stride 2 each, 40 ms frames) -> 6 dilated residual Conv1d blocks -> characters + blank,
trained with CTC on a kaldi dir (wav.scp + text). Characters: ``a-z``, ``'``, ``0-9`` and ``#``
(stands for a word with none of them, e.g. "&"); text is lower-cased, other characters dropped.

Alignment: the ``ctc-segmentation`` package (Kürzinger et al. 2020, the aligner behind ESPnet's
``asr_align``) aligns the word sequence to the model's log-posteriors with each word as one
"utterance" (``prepare_token_list``); its backtrace gives the frame at which every character
state begins. A word starts where its first character state begins and ends where the blank
state after its last character begins. CTC posteriors are peaky, so those
raw boundaries have systematic offsets; :func:`calibrate` measures the median start/end
offset on training utterances whose true timings are known (the synthetic corpus) and the
aligner subtracts them. Boundaries are clipped so that words never overlap.
"""
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from lst.audio import load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.data.timings import WordTiming, read_ctm

logging.getLogger("ctc_segmentation").setLevel(logging.WARNING)  # it logs every utterance at INFO

CHARS = ["<blank>"] + list("abcdefghijklmnopqrstuvwxyz'0123456789#")
CHAR2ID = {c: i for i, c in enumerate(CHARS)}
SAMPLE_RATE = 16000
HOP = 160  # 10 ms
SUBSAMPLE = 4  # two stride-2 convolutions
FRAME_S = HOP * SUBSAMPLE / SAMPLE_RATE  # 40 ms per CTC frame (the 25 Hz unit rate)


def normalise_word(word: str) -> str:
    w = "".join(c for c in word.lower() if c in CHAR2ID and c != "<blank>")
    return w or "#"


def word_ids(word: str) -> List[int]:
    return [CHAR2ID[c] for c in normalise_word(word)]


def features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """[T, 80] normalised log-mel at 100 frames/s (librosa)."""
    import librosa

    if sr != SAMPLE_RATE:
        raise ValueError(f"expected {SAMPLE_RATE} Hz audio, got {sr} Hz (run the recipe's format_wav stage first)")
    mel = librosa.feature.melspectrogram(
        y=audio.astype(np.float32), sr=sr, n_fft=400, hop_length=HOP, win_length=400, n_mels=80, center=True
    )
    logmel = np.log(mel + 1e-6).T
    return ((logmel - logmel.mean(0)) / (logmel.std(0) + 1e-5)).astype(np.float32)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, 5, padding=2 * dilation, dilation=dilation)
        self.norm = nn.BatchNorm1d(ch)

    def forward(self, x):
        return x + nn.functional.gelu(self.norm(self.conv(x)))


class CharCTC(nn.Module):
    """Convolution-only (fast on CPU): 4x subsampling, dilated residual blocks (~2 s context)."""

    DILATIONS = (1, 1, 2, 2, 4, 4)

    def __init__(self, n_in: int = 80, hidden: int = 128, n_out: int = len(CHARS)):
        super().__init__()
        self.inp = nn.Sequential(
            nn.Conv1d(n_in, hidden, 5, stride=2, padding=2), nn.GELU(), nn.Conv1d(hidden, hidden, 5, stride=2, padding=2)
        )
        self.blocks = nn.Sequential(*[_ResBlock(hidden, d) for d in self.DILATIONS])
        self.out = nn.Conv1d(hidden, n_out, 1)

    @staticmethod
    def out_lengths(lengths: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            lengths = (lengths + 2 * 2 - 5) // 2 + 1
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        h = self.blocks(nn.functional.gelu(self.inp(x.transpose(1, 2))))
        return self.out(h).transpose(1, 2).log_softmax(-1), self.out_lengths(lengths)


@dataclass
class Example:
    utt: str
    feats: np.ndarray
    words: List[str]
    target: List[int]


def sentence_chunks(timings: Sequence[WordTiming], pad_s: float = 0.1) -> List[Tuple[int, int, float, float]]:
    """(first word, one past last word, start s, end s) per sentence (words ending in . ! ?)."""
    out, first = [], 0
    for k, w in enumerate(timings):
        if w.word.rstrip("\"')").endswith((".", "!", "?")) or k == len(timings) - 1:
            start = max(0.0, timings[first].start - pad_s)
            end = w.end + pad_s
            if k + 1 < len(timings):
                end = min(end, (w.end + timings[k + 1].start) / 2)
            if first > 0:
                start = max(start, (timings[first - 1].end + timings[first].start) / 2)
            out.append((first, k + 1, start, end))
            first = k + 1
    return out


def load_examples(data_dir, max_utts: Optional[int] = None, seed: int = 0, chunk_sentences: bool = False) -> List[Example]:
    """Examples of a kaldi dir; with ``chunk_sentences`` and a word_ctm, one per sentence.

    Sentence chunks (cut at the midpoint of the pause after a sentence's last word) make CTC
    training converge in far fewer steps than whole multi-sentence utterances.
    """
    data_dir = Path(data_dir)
    wavs = read_kaldi_map(data_dir / "wav.scp")
    texts = read_kaldi_map(data_dir / "text")
    utts = sorted(set(wavs) & set(texts))
    missing = sorted(set(texts) ^ set(wavs))
    if missing:
        logging.warning("%s: %d utterances not in both wav.scp and text, e.g. %s", data_dir, len(missing), missing[:3])
    if max_utts is not None and len(utts) > max_utts:
        utts = sorted(random.Random(seed).sample(utts, max_utts))
    ctm = None
    if chunk_sentences and (data_dir / "word_ctm").exists():
        ctm = read_ctm(data_dir / "word_ctm")
    out = []
    for utt in utts:
        words = texts[utt].split()
        audio = load_audio(wavs[utt], SAMPLE_RATE)
        if ctm is not None and utt in ctm and [w.word for w in ctm[utt]] == words:
            for i, (a, b, s, e) in enumerate(sentence_chunks(ctm[utt])):
                seg = audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)]
                target = [c for w in words[a:b] for c in word_ids(w)]
                out.append(Example(f"{utt}-{i}", features(seg), words[a:b], target))
        else:
            target = [c for w in words for c in word_ids(w)]
            out.append(Example(utt, features(audio), words, target))
    return out


def train(
    train_dir,
    out_dir,
    valid_dir=None,
    epochs: int = 30,
    max_minutes: float = 5.0,
    batch_frames: int = 6000,
    lr: float = 4e-3,
    hidden: int = 128,
    max_utts: Optional[int] = None,
    seed: int = 0,
) -> Path:
    """Train CharCTC with a time budget; saves out_dir/model.pt and config.json. Returns model path."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    t0 = time.time()
    examples = [e for e in load_examples(train_dir, max_utts, seed, chunk_sentences=True) if e.target]
    valid = load_examples(valid_dir, 20, seed, chunk_sentences=True) if valid_dir else []
    if not examples:
        raise ValueError(f"{train_dir}: no training utterance with audio and a non-empty transcript")
    logging.info("ctc_align: %d training examples (sentences, %.2f h) loaded in %.0f s", len(examples),
                 sum(len(e.feats) for e in examples) / 100 / 3600, time.time() - t0)
    model = CharCTC(hidden=hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    logging.info("ctc_align: CharCTC with %d parameters", sum(p.numel() for p in model.parameters()))
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    examples.sort(key=lambda e: len(e.feats))
    batches, cur = [], []
    for e in examples:
        if cur and (len(cur) + 1) * len(e.feats) > batch_frames:
            batches.append(cur)
            cur = []
        cur.append(e)
    if cur:
        batches.append(cur)
    total_steps = epochs * len(batches)
    budget = 60.0 * max_minutes
    t_train = time.time()
    step, done = 0, False
    # warm-up then cosine decay over whichever runs out first: the steps or the time budget
    for epoch in range(epochs):
        model.train()
        rng.shuffle(batches)
        tot, n_b = 0.0, 0
        for b in batches:
            frac = max(step / total_steps, (time.time() - t_train) / budget)
            if frac >= 1.0:
                done = True
                break
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * frac))
            x, lens, y, ylens = collate(b)
            logp, olens = model(x, lens)
            loss = ctc(logp.transpose(0, 1), y, olens, ylens)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            tot += loss.item()
            n_b += 1
            if step % 100 == 0:
                logging.info("ctc_align: step %d, ctc %.3f, %.0f%% of budget", step, loss.item(), 100 * frac)
        msg = f"epoch {epoch + 1} ({step} steps): train ctc {tot / max(n_b, 1):.3f}"
        if valid:
            msg += f", valid ctc/char {evaluate_loss(model, valid):.3f}"
        logging.info("ctc_align: %s (%.0f s)", msg, time.time() - t0)
        if done:
            logging.info("ctc_align: stopped at the %.1f min budget after %d steps", max_minutes, step)
            break
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "model.pt")
    cfg = {"hidden": hidden, "chars": CHARS, "frame_s": FRAME_S, "offsets": {"start": 0.0, "end": 0.0}}
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    return out_dir / "model.pt"


def collate(batch: Sequence[Example]):
    lens = torch.tensor([len(e.feats) for e in batch])
    x = torch.zeros(len(batch), int(lens.max()), batch[0].feats.shape[1])
    for i, e in enumerate(batch):
        x[i, : len(e.feats)] = torch.from_numpy(e.feats)
    y = torch.tensor([c for e in batch for c in e.target], dtype=torch.long)
    ylens = torch.tensor([len(e.target) for e in batch])
    return x, lens, y, ylens


@torch.no_grad()
def evaluate_loss(model, examples) -> float:
    model.eval()
    ctc = nn.CTCLoss(blank=0, zero_infinity=True, reduction="sum")
    tot, n = 0.0, 0
    for e in examples:
        if not e.target:
            continue
        x, lens, y, ylens = collate([e])
        logp, olens = model(x, lens)
        tot += ctc(logp.transpose(0, 1), y, olens, ylens).item()
        n += len(e.target)
    return tot / max(n, 1)


class Aligner:
    def __init__(self, model_dir):
        model_dir = Path(model_dir)
        cfg_path = model_dir / "config.json"
        if not cfg_path.exists():
            raise FileNotFoundError(f"{cfg_path} not found: train the aligner first (python -m lst.bin.ctc_align train)")
        self.cfg = json.loads(cfg_path.read_text())
        if self.cfg["chars"] != CHARS:
            raise ValueError(f"{model_dir}: character set differs from this code's")
        self.model = CharCTC(hidden=self.cfg["hidden"])
        self.model.load_state_dict(torch.load(model_dir / "model.pt", map_location="cpu"))
        self.model.eval()
        self.model_dir = model_dir

    @torch.no_grad()
    def log_probs(self, feats: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(feats)[None]
        logp, _ = self.model(x, torch.tensor([len(feats)]))
        return logp[0].numpy().astype(np.float64)

    def raw_boundaries(self, feats: np.ndarray, words: Sequence[str], utt: str = "?") -> List[Tuple[float, float]]:
        """Uncalibrated (start, end) per word from CTC segmentation's character backtrace."""
        from ctc_segmentation import CtcSegmentationParameters, ctc_segmentation, prepare_token_list

        lpz = self.log_probs(feats)
        config = CtcSegmentationParameters()
        config.char_list = CHARS
        config.blank = 0
        config.index_duration = FRAME_S
        config.min_window_size = max(8000, len(lpz) + 10)
        toks = [np.asarray(word_ids(w), dtype=np.int64) for w in words]
        n_labels = sum(len(t) for t in toks)
        if len(lpz) < n_labels:
            raise ValueError(f"utterance {utt}: {len(lpz)} CTC frames are fewer than its {n_labels} characters")
        gt, begins = prepare_token_list(config, toks)
        if len(lpz) < len(gt):  # ctc-segmentation would stop on an assert ("Audio is shorter than text!")
            raise ValueError(f"utterance {utt}: {len(lpz)} CTC frames ({len(lpz) * FRAME_S:.2f} s) are fewer than "
                             f"the {len(gt)} label states of its {len(words)} words (speech too fast for "
                             f"{FRAME_S * 1000:.0f} ms frames, or the wrong transcript)")
        try:
            timings, _, _ = ctc_segmentation(config, lpz, gt)
        except AssertionError as e:
            raise ValueError(f"utterance {utt}: CTC segmentation failed ({e})") from None
        out = []
        for k in range(len(words)):
            first = begins[k] + 1  # first character state of word k
            after = begins[k + 1]  # the blank state that follows its last character
            out.append((float(timings[first]), float(timings[after])))
        return out

    def align(self, audio: np.ndarray, words: Sequence[str], utt: str = "?") -> List[WordTiming]:
        feats = features(audio)
        raw = self.raw_boundaries(feats, words, utt)
        off_s, off_e = self.cfg["offsets"]["start"], self.cfg["offsets"]["end"]
        dur = len(audio) / SAMPLE_RATE
        out: List[WordTiming] = []
        prev_end = 0.0
        for w, (s, e) in zip(words, raw):
            s = min(max(s - off_s, prev_end, 0.0), dur)
            e = min(max(e - off_e, s), dur)
            out.append(WordTiming(w, round(s, 4), round(e, 4)))
            prev_end = e
        return out


def calibrate(aligner: Aligner, data_dir, ref_ctm: Dict[str, List[WordTiming]], max_utts: int = 100, seed: int = 0):
    """Median start/end offsets of the raw boundaries vs known timings; saved into config.json."""
    exs = [e for e in load_examples(data_dir, max_utts, seed) if e.utt in ref_ctm]
    ds, de = [], []
    skipped = 0
    for e in exs:
        try:
            raw = aligner.raw_boundaries(e.feats, e.words, e.utt)
        except ValueError as err:  # counted, logged skip: one utterance must not stop calibration
            skipped += 1
            logging.warning("calibrate: skipped %s", err)
            continue
        ref = ref_ctm[e.utt]
        ds += [r[0] - t.start for r, t in zip(raw, ref)]
        de += [r[1] - t.end for r, t in zip(raw, ref)]
    if skipped:
        logging.warning("calibrate: %d of %d utterances skipped (see above)", skipped, len(exs))
    if not ds:
        raise ValueError(f"calibrate: no utterance of {data_dir} could be aligned ({skipped} skipped)")
    aligner.cfg["offsets"] = {"start": float(np.median(ds)), "end": float(np.median(de))}
    (aligner.model_dir / "config.json").write_text(json.dumps(aligner.cfg, indent=1))
    return aligner.cfg["offsets"]
