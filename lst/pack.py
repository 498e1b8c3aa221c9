"""Pack a pretrained speech-text LM into one archive and load it back.

In the spirit of ``espnet2.bin.pack``: everything a downstream recipe or an inference CLI
needs to go from a waveform or a transcript to model inputs travels together, so a package
is self-contained (no paths into the pretraining recipe survive packing)::

    meta.json          format version, model kind, unit rate, number of units, feature
                       settings, file list with sha256 sums
    config.yaml        the ESPnet training config (model, model_conf, token_list inside)
    model.pth          the weights (a state dict)
    tokens.txt         the joint token list (lst/vocab.py layout)
    bpe.model          the sentencepiece model of the text side
    km.pkl, km_info.json   the unit k-means model and its feature settings
    unit_info.json     unit rate, n_units, dedup, feature type (as written by dump_units)
    silence_units.json (optional) the silence report of the k-means stage

``.zip`` or ``.tar.gz`` is chosen by the output name. ``load_packed`` checks the sums and
the consistency of the pieces (token list vs. k-means size vs. config) before building
the model, so a mismatched package fails at load time with a message naming the file.
"""
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import yaml

from lst.stage_io import sha256_file

FORMAT_VERSION = 1
REQUIRED = ("config.yaml", "model.pth", "tokens.txt", "bpe.model", "km.pkl", "km_info.json", "unit_info.json")


class PackError(Exception):
    """A package that cannot be written or read back (missing or inconsistent pieces)."""


def _archive_kind(path: str) -> str:
    if path.endswith(".zip"):
        return "zip"
    if path.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    raise PackError(f"{path}: archive name must end with .zip, .tar.gz or .tgz")


def pack_model(out_path: str, config: str, model_file: str, bpe_model: str, km_dir: str, unit_info: str,
               token_list: Optional[str] = None) -> Dict:
    """Write the archive; returns its meta dict.

    ``token_list`` defaults to the list stored in ``config.yaml`` (ESPnet keeps it there);
    when given, it must equal that list.
    """
    import torch

    kind = _archive_kind(out_path)
    for p, what in [(config, "--config"), (model_file, "--model_file"), (bpe_model, "--bpe_model"),
                    (unit_info, "--unit_info"), (os.path.join(km_dir, "km.pkl"), "--km_dir"),
                    (os.path.join(km_dir, "km_info.json"), "--km_dir")]:
        if not os.path.isfile(p):
            raise PackError(f"{what}: {p} not found")
    cfg = _member(config, "config", lambda: _yaml_object(Path(config)))
    tokens = cfg.get("token_list")
    if isinstance(tokens, str) or tokens is None:
        src = token_list or tokens
        if not src or not os.path.isfile(src):
            raise PackError(f"{config}: no token_list in the config and no --token_list file given")
        tokens = Path(src).read_text(encoding="utf-8").splitlines()
    elif token_list:
        given = Path(token_list).read_text(encoding="utf-8").splitlines()
        if given != list(tokens):
            raise PackError(f"--token_list {token_list} differs from the token_list stored in {config}")
    km_info = _member(km_dir, "km_info.json", lambda: _json_object(Path(km_dir, "km_info.json")))
    uinfo = _member(unit_info, "unit_info", lambda: _json_object(Path(unit_info)))
    _member(f"{config} + {km_dir} + {unit_info}", "token list/k-means/unit_info",
            lambda: _check_consistency(tokens, km_info, uinfo, where=f"{config} + {km_dir} + {unit_info}"))

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        cfg = dict(cfg)
        cfg["token_list"] = list(tokens)
        (t / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
        # weights: a plain state dict (resolves ESPnet's symlinks like valid.loss.best.pth)
        from lst.train.trainer import checkpoint_problem

        problem = checkpoint_problem(model_file)
        if problem:
            raise PackError(f"--model_file: {model_file} cannot be loaded ({problem})")
        state = _member(model_file, "weights", lambda: torch.load(model_file, map_location="cpu", weights_only=True))
        torch.save(state, t / "model.pth")
        (t / "tokens.txt").write_text("".join(x + "\n" for x in tokens), encoding="utf-8")
        shutil.copyfile(bpe_model, t / "bpe.model")
        shutil.copyfile(os.path.join(km_dir, "km.pkl"), t / "km.pkl")
        shutil.copyfile(os.path.join(km_dir, "km_info.json"), t / "km_info.json")
        uinfo = {k: v for k, v in uinfo.items() if k not in ("km_dir", "silence_units_file")}  # no stale paths
        (t / "unit_info.json").write_text(json.dumps(uinfo, indent=2))
        files = list(REQUIRED)
        sil = os.path.join(km_dir, "silence_units.json")
        if os.path.isfile(sil):
            shutil.copyfile(sil, t / "silence_units.json")
            files.append("silence_units.json")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": cfg.get("model"),
            "unit_rate_hz": uinfo["unit_rate_hz"],
            "n_units": int(uinfo["n_units"]),
            "dedup": bool(uinfo.get("dedup", False)),
            "feature_type": km_info.get("feature_type"),
            "frame_rate_hz": km_info.get("frame_rate_hz"),
            "ssl_layer": km_info.get("ssl_layer"),
            "sources": {"config": os.path.abspath(config), "model_file": os.path.abspath(model_file)},
            # the k-means / token-list fingerprints the model and its units descend from
            # (lst.stage_io): inference refuses units dumped with another codebook
            "lineage": _lineage(config, model_file, km_dir, unit_info),
            "files": {f: sha256_file(t / f) for f in files},
        }
        (t / "meta.json").write_text(json.dumps(meta, indent=2))
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        names = ["meta.json"] + files
        # written under a temporary name and renamed: a kill or a full disk leaves no truncated archive
        partial = Path(out_path).with_name(f".{Path(out_path).name}.partial-{os.getpid()}")
        try:
            if kind == "zip":
                with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
                    for f in names:
                        z.write(t / f, f)
            else:
                with tarfile.open(partial, "w:gz") as z:
                    for f in names:
                        z.add(t / f, f)
            os.replace(partial, out_path)
        except OSError as e:
            from lst.stage_io import io_error_message

            raise PackError(io_error_message(out_path, e)) from None
        finally:
            if partial.exists():
                partial.unlink()
    return meta


def _lineage(config, model_file, km_dir, unit_info) -> Dict:
    from lst.stage_io import StageError, fingerprint, lineage_of, merge_lineage, read_marker, read_train_inputs

    named = {}
    try:
        record = read_train_inputs(Path(config).parent, Path(model_file).resolve().parent)
        if record:
            named[f"the training data of {config}"] = record.get("lineage", {})
        named[unit_info] = lineage_of(unit_info)
        km_marker = read_marker(km_dir)
        if km_marker is not None:
            named[km_dir] = {"learn_kmeans": fingerprint(km_dir)}
        return merge_lineage(named)
    except StageError as e:
        raise PackError(f"pack_model: {e}") from None


def _check_consistency(tokens: List[str], km_info: Dict, unit_info: Dict, where: str):
    from lst.vocab import SpeechTextVocab

    vocab = SpeechTextVocab(tokens)
    n_km = int(km_info["n_clusters"])
    if vocab.n_units != n_km or int(unit_info["n_units"]) != n_km:
        raise PackError(f"{where}: token_list has {vocab.n_units} units, k-means {n_km}, "
                        f"unit_info {unit_info['n_units']}: they must agree")
    if km_info.get("frame_rate_hz") is not None and int(km_info["frame_rate_hz"]) != int(unit_info["unit_rate_hz"]):
        raise PackError(f"{where}: k-means frame rate {km_info['frame_rate_hz']} Hz != "
                        f"unit_info unit_rate_hz {unit_info['unit_rate_hz']}")


def unpack(path: str, out_dir: str) -> Dict:
    """Extract ``path`` into ``out_dir`` (checked: no member may leave it); returns meta.

    An empty, truncated or foreign file is a one-line :class:`PackError` naming it."""
    kind = _archive_kind(path)
    if not os.path.isfile(path):
        raise PackError(f"{path}: packed model not found")
    if os.path.getsize(path) == 0:
        raise PackError(f"{path}: empty file (an interrupted copy or pack_model run?)")
    try:
        _extract(path, kind, out_dir)
    except PackError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib_error(), ValueError) as e:
        detail = " ".join(str(e).split())[:200]
        raise PackError(f"{path}: not a complete {kind} archive (truncated or not an lst package): "
                        f"{type(e).__name__}: {detail}") from None
    return read_meta(path, Path(out_dir))


def zlib_error():
    import zlib

    return zlib.error


def read_meta(path, out: Path) -> Dict:
    """meta.json of an extracted package, checked: format, file list, sha256 sums."""
    meta_path = out / "meta.json"
    if not meta_path.is_file():
        raise PackError(f"{path}: no meta.json (not an lst package)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackError(f"{path}: meta.json is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise PackError(f"{path}: meta.json is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise PackError(f"{path}: package format {meta.get('format_version')}, this lst reads {FORMAT_VERSION}")
    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise PackError(f"{path}: meta.json has no 'files' map of name -> sha256")
    root = out.resolve()
    _check_names(path, list(files), root)
    for f, digest in files.items():
        if not (out / f).is_file():
            raise PackError(f"{path}: {f} listed in meta.json but missing")
        if sha256_file(out / f) != digest:
            raise PackError(f"{path}: {f} is corrupted (sha256 mismatch)")
    for f in REQUIRED:
        if f not in files:
            raise PackError(f"{path}: required member {f} missing")
    for key, kind in (("unit_rate_hz", (int, float)), ("n_units", int)):
        if key in meta and not isinstance(meta[key], kind):
            raise PackError(f"{path}: meta.json {key} = {meta[key]!r} is not a number")
    return meta


def _extract(path: str, kind: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    if kind == "zip":
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            _check_names(path, names, root)
            z.extractall(out)
    else:
        with tarfile.open(path, "r:gz") as z:
            members = z.getmembers()
            _check_names(path, [m.name for m in members], root)
            if any(not (m.isfile() or m.isdir()) for m in members):
                raise PackError(f"{path}: archive holds links or special files")
            z.extractall(out)


def _json_object(p: Path) -> Dict:
    obj = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def _yaml_object(p: Path) -> Dict:
    obj = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("not a YAML mapping")
    return obj


def _check_names(path, names, root: Path):
    for n in names:
        target = (root / n).resolve()
        if root != target and root not in target.parents:
            raise PackError(f"{path}: member {n!r} would be written outside {root}")


@dataclass
class PackedModel:
    """A loaded package. ``model`` is in eval mode on CPU."""

    model: object
    vocab: object  # lst.vocab.SpeechTextVocab
    bpe: object  # sentencepiece.SentencePieceProcessor
    kmeans: object  # sklearn MiniBatchKMeans
    unit_rate_hz: float
    meta: Dict
    config: Dict
    unit_info: Dict
    km_info: Dict
    directory: str
    silence_units: List[int] = field(default_factory=list)
    _tmp: Optional[object] = field(default=None, repr=False)
    _extractor: Optional[object] = field(default=None, repr=False)

    @property
    def model_kind(self) -> str:
        return self.config.get("model", "token_lm")

    @property
    def config_path(self) -> str:
        return os.path.join(self.directory, "config.yaml")

    @property
    def model_path(self) -> str:
        return os.path.join(self.directory, "model.pth")

    @property
    def bpe_path(self) -> str:
        return os.path.join(self.directory, "bpe.model")

    @property
    def token_list_path(self) -> str:
        return os.path.join(self.directory, "tokens.txt")

    # ---- audio -> units ---------------------------------------------------------------
    def extractor(self):
        if self._extractor is None:
            from lst.units.features import build_extractor

            ft = self.km_info.get("feature_type", "mfcc")
            if ft != "mfcc":  # a feature model the k-means info names by path (LST_SSL_CKPT: moved)
                ckpt = os.environ.get("LST_SSL_CKPT") or self.km_info.get("ssl_ckpt")
                self._extractor = build_extractor(ft, ckpt, self.km_info.get("ssl_layer"),
                                                  self.km_info.get("ssl_upstream") or "hubert")
            else:
                self._extractor = build_extractor(ft)
        return self._extractor

    def wav_to_units(self, wav: np.ndarray) -> np.ndarray:
        """16 kHz mono float32 samples -> unit ids (the package's features + k-means)."""
        return self.wav_to_units_and_durations(wav)[0]

    def wav_to_units_and_durations(self, wav: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """As `wav_to_units`, with each unit's length in frames (all 1 unless the package's
        units are deduplicated)."""
        from lst.units.features import extract
        from lst.units.kmeans import apply_kmeans, dedup

        feats, _ = extract(self.extractor(), wav, int(self.km_info.get("frame_rate_hz", self.unit_rate_hz)))
        units = apply_kmeans(self.kmeans, feats)
        if self.unit_info.get("dedup"):
            return dedup(units)
        return units, np.ones(len(units), dtype=np.int64)

    # ---- text <-> ids -----------------------------------------------------------------
    def text_to_ids(self, text: str) -> List[int]:
        return [self.vocab.piece_id(p) for p in self.bpe.encode(text.strip(), out_type=str)]

    def ids_to_text(self, ids) -> str:
        pieces = [self.vocab.tokens[i] for i in ids
                  if self.vocab.text_offset <= i < self.vocab.unit_offset]
        return self.bpe.decode_pieces(pieces) if pieces else ""

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def load_packed(path: str, extract_dir: Optional[str] = None, device: str = "cpu",
                load_model: bool = True) -> PackedModel:
    """Archive (or an already-extracted directory) -> ``PackedModel``.

    ``load_model=False`` skips building the network (``model`` is None): enough for
    audio -> units and text -> ids, and it does not import espnet (fast start-up).
    Without ``extract_dir`` the archive goes to a temporary directory that lives as long
    as the returned object (``close()`` removes it). Every damaged piece (empty, truncated or
    foreign archive, bad meta.json, unreadable member, weights that do not load even though
    their checksum matches) is a one-line :class:`PackError` naming the package and member.
    """
    tmp = None
    if os.path.isdir(path):
        directory = path
        meta = read_meta(path, Path(path))
    else:
        if extract_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="lst_pack_")
            extract_dir = tmp.name
        try:
            meta = unpack(path, extract_dir)
        except BaseException:
            if tmp is not None:
                tmp.cleanup()
            raise
        directory = extract_dir
    d = Path(directory)
    try:
        return _load_members(path, d, meta, device, load_model, tmp)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise


def _member(path, name: str, read):
    """``read()`` a package member; any failure is a PackError naming the member."""
    try:
        return read()
    except PackError:
        raise
    except Exception as e:  # noqa: BLE001 - yaml, json, pickle, torch: one line naming the member
        detail = " ".join(str(e).split())[:200]
        raise PackError(f"{path}: {name} cannot be read ({type(e).__name__}: {detail})") from None


def _load_members(path, d: Path, meta: Dict, device: str, load_model: bool, tmp) -> "PackedModel":
    import joblib
    import sentencepiece as spm

    from lst.vocab import SpeechTextVocab, read_token_list

    tokens = _member(path, "tokens.txt", lambda: read_token_list(d / "tokens.txt"))
    km_info = _member(path, "km_info.json", lambda: _json_object(d / "km_info.json"))
    unit_info = _member(path, "unit_info.json", lambda: _json_object(d / "unit_info.json"))
    _member(path, "tokens.txt + km_info.json + unit_info.json",
            lambda: _check_consistency(tokens, km_info, unit_info, where=str(path)))
    config = _member(path, "config.yaml", lambda: _yaml_object(d / "config.yaml"))
    if list(config.get("token_list", []) or []) != tokens:
        raise PackError(f"{path}: config.yaml token_list differs from tokens.txt")
    model = None
    if load_model:
        from lst.train.trainer import checkpoint_problem

        problem = checkpoint_problem(d / "model.pth")
        if problem:
            raise PackError(f"{path}: model.pth cannot be loaded ({problem})")

        def build():
            from lst.tasks.lst import LSTTask

            m, _ = LSTTask.build_model_from_file(str(d / "config.yaml"), str(d / "model.pth"), device=device)
            return m.eval()

        model = _member(path, "model.pth (with config.yaml)", build)
    silence = []
    if (d / "silence_units.json").is_file():
        silence = _member(path, "silence_units.json",
                          lambda: _json_object(d / "silence_units.json").get("silence_units", []))
    bpe = _member(path, "bpe.model", lambda: spm.SentencePieceProcessor(model_file=str(d / "bpe.model")))
    kmeans = _member(path, "km.pkl", lambda: joblib.load(d / "km.pkl"))
    unit_rate = _member(path, "unit_info.json", lambda: float(unit_info["unit_rate_hz"]))
    directory = str(d)
    return PackedModel(
        model=model, vocab=SpeechTextVocab(tokens), bpe=bpe,
        kmeans=kmeans, unit_rate_hz=unit_rate, meta=meta,
        config=config, unit_info=unit_info, km_info=km_info, directory=str(directory), silence_units=silence,
        _tmp=tmp,
    )
