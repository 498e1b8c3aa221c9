#!/usr/bin/env python3
r"""Where does the unit vocoder lose intelligibility? Controlled changes to log-mel spectrograms,
each written as a wav.scp for the independent recognizer (lst.bin.recognize).

    # the recordings' own log-mel, degraded on purpose (the Griffin-Lim ceiling and how it falls)
    local/mel_diagnostics.py true_mel --wav_scp W --out_dir D --variants none,blur_t3,blur_t5,blur_f1.5,shrink0.6
    # a trained vocoder's mel, changed after the net (post-filters, excitation, the recordings' pitch)
    local/mel_diagnostics.py vocoder --vocoder V --units U --wav_scp W --out_dir D \
        --variants none,cep0.2,tsharp1.0,excitation_oracle_f0,pitch_oracle
    # how smooth the predicted mel is against the recordings' (mean |difference| ratios), as JSON
    local/mel_diagnostics.py stats --vocoder V --units U --wav_scp W

Variants (each synthesised by Griffin-Lim at the vocoder's mel hop, 32 iterations, unless noted):
  none                  unchanged
  blur_tN               moving average over N frames in time (N odd)
  blur_fS               Gaussian blur of standard deviation S mel bins across frequency
  shrinkA               each bin's deviation from the utterance mean scaled by A
  cepB                  cepstral sharpening (HMM-TTS post-filter): DCT coefficients 2.. of each frame x (1 + B)
  tsharpA               temporal unsharp mask: mel + A (mel - 3-frame moving average)
  excitation_oracle_f0  no Griffin-Lim: the mel as a spectral envelope over a pulse train at the recording's
                        pYIN F0 (noise where unvoiced), filtered frame by frame in the STFT domain
  pitch_oracle          (vocoders trained with --pitch_bins) decoded with the recording's pitch instead of the
                        vocoder's predicted pitch
Output: <out_dir>/<variant>/wav/<utt>.wav and wav.scp. This is a diagnostic tool of this recipe, not a
synthesis path of the product: lst.bin.vocode_units and tts_inference are.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile
import torch
from scipy.fft import dct, idct
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from lst.audio import load_audio
from lst.data.kaldi_dir import read_kaldi_map, utt_file_name
from lst.vocoder import UnitVocoder
from lst.vocoder.unit_mel import MelConfig, griffin_lim, log_mel, pitch_bin, pitch_track


def mel_change(name: str):
    """The mel -> mel function a variant names (None for the variants that are not one)."""
    if name == "none":
        return lambda m: m
    if name.startswith("blur_t"):
        n = int(name[6:])
        return lambda m: uniform_filter1d(m, n, axis=0)
    if name.startswith("blur_f"):
        s = float(name[6:])
        return lambda m: gaussian_filter1d(m, s, axis=1)
    if name.startswith("shrink"):
        a = float(name[6:])
        return lambda m: m.mean(0, keepdims=True) + a * (m - m.mean(0, keepdims=True))
    if name.startswith("cep"):
        b = float(name[3:])

        def cep(m):
            c = dct(m, type=2, norm="ortho", axis=1)
            c[:, 2:] *= 1.0 + b
            return idct(c, type=2, norm="ortho", axis=1)
        return cep
    if name.startswith("tsharp"):
        a = float(name[6:])
        return lambda m: m + a * (m - uniform_filter1d(m, 3, axis=0))
    if name in ("excitation_oracle_f0", "pitch_oracle"):
        return None
    raise SystemExit(f"mel_diagnostics: unknown variant {name!r} (see --help)")


def excitation_synthesis(logmel: np.ndarray, lf0: np.ndarray, voiced: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Source-filter synthesis: the mel (as linear magnitude) shapes a unit-power pulse train at F0 in voiced
    frames and white noise elsewhere (10 % noise mixed into voiced frames)."""
    import librosa

    hop, n_fft = cfg.hop, cfg.n_fft
    mag = librosa.feature.inverse.mel_to_stft(np.exp(logmel.T), sr=cfg.sample_rate, n_fft=n_fft, power=1.0,
                                              fmin=cfg.fmin, fmax=cfg.fmax)
    n = mag.shape[1] * hop
    f0 = np.repeat(np.where(voiced, np.exp(lf0), 0.0), hop)[:n]
    v = np.convolve(np.repeat(voiced.astype(np.float32), hop)[:n], np.hanning(2 * hop + 1) / np.hanning(2 * hop + 1).sum(),
                    mode="same")
    phase = np.cumsum(np.where(f0 > 0, f0, 100.0) / cfg.sample_rate)
    pulses = np.zeros(n, np.float32)
    at = np.nonzero(np.diff(np.floor(phase)) > 0)[0] + 1
    pulses[at] = np.sqrt(cfg.sample_rate / np.maximum(f0[at], 40.0))
    noise = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    exc = v * (pulses + 0.1 * noise) + (1 - v) * noise
    spec = librosa.stft(exc, n_fft=n_fft, hop_length=hop, win_length=n_fft, center=True)[:, :mag.shape[1]]
    spec = spec / np.sqrt((librosa.filters.get_window("hann", n_fft) ** 2).sum())
    y = librosa.istft(spec * mag[:, :spec.shape[1]], hop_length=hop, win_length=n_fft, n_fft=n_fft, center=True)
    peak = float(np.abs(y).max())
    return (y / peak * 0.9 if peak > 0 else y).astype(np.float32)


def smoothness(pred: np.ndarray, true: np.ndarray) -> dict:
    """Mean |difference| of the predicted mel over the recording's: across time, across frequency, and the
    per-bin standard deviation over time (1.0: as detailed as the recording)."""
    n = min(len(pred), len(true))
    p, t = pred[:n], true[:n]
    return {"time_diff": (np.abs(np.diff(p, axis=0)).mean(), np.abs(np.diff(t, axis=0)).mean()),
            "freq_diff": (np.abs(np.diff(p, axis=1)).mean(), np.abs(np.diff(t, axis=1)).mean()),
            "std_over_time": (p.std(0).mean(), t.std(0).mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["true_mel", "vocoder", "stats"])
    p.add_argument("--wav_scp", required=True, help="the recordings (the true mel, the pitch, the stats' reference)")
    p.add_argument("--vocoder", default=None)
    p.add_argument("--units", default=None)
    p.add_argument("--out_dir", default=None)
    p.add_argument("--variants", default="none")
    p.add_argument("--unit_rate_hz", type=float, default=50.0, help="(true_mel) the mel hop of a vocoder of this rate")
    p.add_argument("--frames_per_unit", type=int, default=2, help="(true_mel) mel frames per unit")
    args = p.parse_args(argv)
    wavs = read_kaldi_map(args.wav_scp)
    voc = None
    if args.mode in ("vocoder", "stats"):
        if not (args.vocoder and args.units):
            p.error(f"{args.mode} needs --vocoder and --units")
        voc = UnitVocoder.load(args.vocoder)
        units = {u: [int(x) for x in seq.split()] for u, seq in read_kaldi_map(args.units).items()}
        missing = sorted(set(units) - set(wavs))
        if missing:
            p.error(f"{len(missing)} utterances of {args.units} are not in {args.wav_scp} (e.g. {missing[:3]})")
        utts = sorted(units)
    else:
        utts = sorted(wavs)
    cfg = voc.cfg if voc else MelConfig(unit_rate_hz=args.unit_rate_hz, frames_per_unit=args.frames_per_unit)
    if args.mode == "stats":
        ratios = {}
        for utt in utts:
            for k, (a, b) in smoothness(voc.units_to_mel(units[utt], utt),
                                        log_mel(load_audio(wavs[utt]), cfg)).items():
                ratios.setdefault(k, []).append((a, b))
        out = {k: round(float(np.mean([a for a, _ in v]) / np.mean([b for _, b in v])), 4) for k, v in ratios.items()}
        print(json.dumps({"utterances": len(utts), "predicted_over_recorded": out}, indent=1))
        return 0
    if not args.out_dir:
        p.error("--out_dir is needed")
    variants = args.variants.split(",")
    changes = {v: mel_change(v) for v in variants}
    if "pitch_oracle" in variants and not (voc and voc.net.pitch_bins):
        p.error("pitch_oracle needs a vocoder trained with --pitch_bins")
    scps = {}
    for v in variants:
        (Path(args.out_dir) / v / "wav").mkdir(parents=True, exist_ok=True)
        scps[v] = open(Path(args.out_dir) / v / "wav.scp", "w")
    for i, utt in enumerate(utts):
        wav = load_audio(wavs[utt])
        if voc is None:
            mel = log_mel(wav, cfg)
        else:
            mel = voc.units_to_mel(units[utt], utt)
        for v in variants:
            if v == "excitation_oracle_f0":
                out = excitation_synthesis(mel, *pitch_track(wav, cfg, len(mel)), cfg)
            elif v == "pitch_oracle":
                lf0, voiced = pitch_track(wav, cfg, len(units[utt]) * voc.net.frames_per_unit)
                ids = pitch_bin(torch.as_tensor(lf0)[None], torch.as_tensor(voiced)[None], voc.net.pitch_bins)
                with torch.no_grad():
                    m = voc.net(torch.as_tensor(units[utt])[None], ids)[0].numpy()
                out = griffin_lim(m, cfg, 32)
            else:
                out = griffin_lim(changes[v](mel).astype(np.float32), cfg, 32)
            path = (Path(args.out_dir) / v / "wav" / (utt_file_name(utt) + ".wav")).resolve()
            soundfile.write(str(path), out, cfg.sample_rate)
            scps[v].write(f"{utt} {path}\n")
        if (i + 1) % 10 == 0:
            print(f"mel_diagnostics: {i + 1}/{len(utts)} utterances", file=sys.stderr, flush=True)
    for f in scps.values():
        f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
