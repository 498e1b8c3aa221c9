"""In-recipe HuBERT models trained with ESPnet's SSL task: training targets and features.

HuBERT iterations (Hsu et al., 2021): cluster MFCCs (iteration 0 targets), train a masked
prediction model on them, cluster one of its layers into the next targets, train again.
``lst.bin.train_hubert`` runs ESPnet's trainer (``espnet2.tasks.ssl.SSLTask``); this module
writes its inputs (:func:`prepare_targets`) and reads a layer of the trained model
(:class:`EspnetSslExtractor`), on the shared 50 Hz frame grid of ``lst.units.features``.

Layer numbering is s3prl's ``hidden_states`` convention: 0 is the input of the first
transformer block (CNN features after projection and the convolutional position
embedding), ``L`` the output of block ``L``.
"""
import logging
import os
from typing import List

import numpy as np
import soundfile

from lst.units.features import SAMPLE_RATE, FeatureError, num_frames_50hz
from lst.units.io import SkipReport, ToolError, read_kaldi_map, require_file, write_kaldi_map

logger = logging.getLogger(__name__)
UNK = "<unk>"


def token_list(n_units: int) -> List[str]:
    """ESPnet token list for unit targets: ids ``0..K-1`` map to themselves, then <unk>."""
    return [str(i) for i in range(n_units)] + [UNK]


def prepare_targets(raw_dir: str, units_dir: str, out_dir: str) -> SkipReport:
    """wav.scp, text (units), speech_shape, text_shape, token_list for ESPnet's SSL task."""
    import json

    tool = "train_hubert prepare"
    wav_scp = require_file(tool, os.path.join(raw_dir, "wav.scp"), "python -m lst.bin.format_wav")
    units_path = require_file(tool, os.path.join(units_dir, "units"), "python -m lst.bin.dump_units")
    info_path = require_file(tool, os.path.join(units_dir, "unit_info.json"),
                             "python -m lst.bin.dump_units")
    with open(info_path) as f:
        info = json.load(f)
    if info.get("dedup") or info.get("unit_rate_hz") != 50:
        raise ToolError(f"{tool}: {units_dir} must hold 50 Hz units without dedup "
                        f"(has unit_rate_hz={info.get('unit_rate_hz')}, dedup={info.get('dedup')})")
    units = dict(read_kaldi_map(units_path))
    report = SkipReport(tool, logger)
    wavs, texts, speech_shape, text_shape = [], [], [], []
    for utt, path in read_kaldi_map(wav_scp):
        report.n_in += 1
        if utt not in units:
            report.skip(utt, "no_units", units_path)
            continue
        n_samples = soundfile.info(path).frames
        n_units = len(units[utt].split())
        if n_units != num_frames_50hz(n_samples):
            report.skip(utt, "frame_mismatch",
                        f"{n_units} units for {num_frames_50hz(n_samples)} frames of {path}")
            continue
        wavs.append((utt, path))
        texts.append((utt, units[utt]))
        speech_shape.append((utt, str(n_samples)))
        text_shape.append((utt, str(n_units)))
        report.n_written += 1
    os.makedirs(out_dir, exist_ok=True)
    for name, entries in (("wav.scp", wavs), ("text", texts), ("speech_shape", speech_shape),
                          ("text_shape", text_shape)):
        write_kaldi_map(os.path.join(out_dir, name), entries)
    with open(os.path.join(out_dir, "token_list"), "w") as f:
        f.write("\n".join(token_list(int(info["n_units"]))) + "\n")
    report.finish()
    return report


def _option(argv: List[str], name: str):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return i + 1, argv[i + 1]
        if a.startswith(name + "="):
            return None, a.split("=", 1)[1]
    return None, None


def config_with_num_classes(argv: List[str]) -> List[str]:
    """Point ``--config`` at a copy whose HuBERT losses predict ``len(token_list)`` classes."""
    import yaml

    ci, config = _option(argv, "--config")
    _, tokens = _option(argv, "--token_list")
    _, out_dir = _option(argv, "--output_dir")
    if config is None or tokens is None or out_dir is None:
        return argv
    if ci is None:
        raise ToolError("train_hubert train: write '--config FILE' (not --config=FILE)")
    with open(config) as f:
        conf = yaml.safe_load(f)
    with open(tokens) as f:
        n_classes = sum(1 for line in f if line.strip())
    for loss in conf.get("loss", []):
        if loss.get("name") == "hubert":
            loss.setdefault("conf", {})["num_classes"] = n_classes
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "config_in.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
    argv = list(argv)
    argv[ci] = path
    return argv


class EspnetSslExtractor:
    """One layer of a HuBERT trained in-recipe with ESPnet's SSL task (``lst.bin.train_hubert``).

    ``ckpt`` is a model file of the training dir (``valid.loss.best.pth``, ``N epoch.pth``);
    the ``config.yaml`` ESPnet wrote beside it rebuilds the network. ``layer`` follows s3prl's
    ``hidden_states``: 0 = input of the first transformer block, ``L`` = output of block L.
    Utterances are encoded one at a time: the wav2vec CNN's group norm spans the time axis,
    so padding a batch would change the features of its shorter members.
    """

    feature_type = "espnet_ssl"

    def __init__(self, ckpt: str, layer: int, config: str = None, device: str = "cpu"):
        import torch

        from lst.compat import SSL_TASK_PLACEHOLDERS, espnet_placeholders

        config = config or os.path.join(os.path.dirname(os.path.abspath(ckpt)), "config.yaml")
        for path, what in ((ckpt, "checkpoint"), (config, "config (ESPnet's config.yaml)")):
            if not os.path.isfile(path):
                raise FeatureError(f"ESPnet SSL {what} {path} not found")
        with espnet_placeholders(SSL_TASK_PLACEHOLDERS):  # imported, never called
            from espnet2.tasks.ssl import SSLTask

        try:
            model, _ = SSLTask.build_model_from_file(config, ckpt, device)
        except Exception as e:  # name the files, not a stack trace
            raise FeatureError(f"cannot load ESPnet SSL model {ckpt} with {config}: "
                               f"{type(e).__name__}: {e}")
        self.model = model.eval()
        self.torch = torch
        self.device = device
        self.ckpt, self.config = ckpt, config
        self.n_layers = len(self.model.encoder.encoders)
        if not -(self.n_layers + 1) <= layer <= self.n_layers:
            raise FeatureError(f"--ssl_layer {layer} out of range: {ckpt} has "
                               f"{self.n_layers + 1} hidden states (0..{self.n_layers})")
        self.layer = layer % (self.n_layers + 1)
        self.dim = int(self.model.encoder.output_size())

    def _encode(self, wav: np.ndarray):
        """The encoder's layer outputs for one utterance (each [1, frames, dim])."""
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None].to(self.device)  # [1, samples]
            lengths = torch.tensor([x.shape[1]], device=self.device)
            _, layers, _ = self.model.inference_encode(x, lengths)
        return layers

    def hidden_states(self, wav: np.ndarray) -> List[np.ndarray]:
        """All ``n_layers + 1`` hidden states of one utterance, each [frames, dim]."""
        captured = {}
        first = self.model.encoder.encoders[0]
        def keep_input(module, args):  # returns None: the input is left unchanged
            captured["in"] = args[0]

        hook = first.register_forward_pre_hook(keep_input)
        try:
            layers = self._encode(wav)
        finally:
            hook.remove()
        states = [captured["in"]] + list(layers)
        return [s[0].float().cpu().numpy() for s in states]

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        n = num_frames_50hz(len(wav))
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.layer == 0:
            hidden = self.hidden_states(wav)[0]
        else:  # stop after the block we need
            hidden = self._upto(wav, self.layer)
        if len(hidden) < n:  # keep the shared frame grid exactly
            hidden = np.concatenate([hidden, np.repeat(hidden[-1:], n - len(hidden), 0)])
        return hidden[:n].astype(np.float32, copy=False)

    def _upto(self, wav: np.ndarray, layer: int) -> np.ndarray:
        """Output of block ``layer`` without running the blocks above it."""
        enc = self.model.encoder
        kept = enc.encoders
        enc.encoders = kept[:layer]
        try:
            layers = self._encode(wav)
        finally:
            enc.encoders = kept
        return layers[-1][0].float().cpu().numpy()


def random_checkpoint(config: str, n_classes: int, out_dir: str) -> str:
    """A randomly initialised ESPnet SSL model of ``config``'s shape, saved as a training dir.

    For planning: extraction speed of a model shape before any training (``unit_metrics
    speed``). Returns the model file; ESPnet's ``config.yaml`` is written beside it.
    """
    import argparse

    import torch
    import yaml

    from lst.compat import SSL_TASK_PLACEHOLDERS, espnet_placeholders

    with espnet_placeholders(SSL_TASK_PLACEHOLDERS):
        from espnet2.tasks.ssl import SSLTask
    os.makedirs(out_dir, exist_ok=True)
    tokens = os.path.join(out_dir, "token_list")
    with open(tokens, "w") as f:
        f.write("\n".join(token_list(n_classes - 1)) + "\n")
    conf_in = config_with_num_classes(["--config", config, "--token_list", tokens,
                                       "--output_dir", out_dir])[1]
    parser = SSLTask.get_parser()
    args = parser.parse_args(["--config", conf_in, "--token_list", tokens, "--output_dir", out_dir])
    torch.manual_seed(0)
    model = SSLTask.build_model(args)
    path = os.path.join(out_dir, "random.pth")
    torch.save(model.state_dict(), path)
    with open(os.path.join(out_dir, "config.yaml"), "w") as f:
        yaml.safe_dump({k: v for k, v in vars(args).items() if not isinstance(v, argparse.Namespace)},
                       f, sort_keys=False)
    return path


def extraction_speed(extractor, seconds: float = 60.0, utt_seconds: float = 10.0,
                     seed: int = 0) -> dict:
    """Features of ``seconds`` of noise in ``utt_seconds`` utterances: x real time (wall and CPU).

    CPU time (this process) is the robust figure on a shared machine: x real time per busy core.
    """
    import time

    rng = np.random.default_rng(seed)
    utt_seconds = min(utt_seconds, seconds)
    n_utts = max(1, int(round(seconds / utt_seconds)))
    wavs = [(0.1 * rng.standard_normal(int(utt_seconds * SAMPLE_RATE))).astype(np.float32)
            for _ in range(n_utts)]
    extractor(wavs[0][: SAMPLE_RATE])  # warm-up (allocations, lazy imports)
    wall, cpu = time.perf_counter(), time.process_time()
    for w in wavs:
        extractor(w)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    audio = n_utts * utt_seconds
    return {"audio_s": audio, "wall_s": round(wall, 6), "cpu_s": round(cpu, 6),
            "x_realtime_wall": round(audio / wall, 1), "x_realtime_cpu": round(audio / cpu, 1)}
