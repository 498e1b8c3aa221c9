"""Stage outputs that are complete or absent, with a completion marker the next stage checks.

Every stage tool writes its output directory through :func:`staged_dir`: the files go to a
hidden sibling ``.<name>.partial-<pid>``; only when the tool has finished does it write the
completion marker ``.done.json`` there and swap the directory into place (two renames). A kill,
an exception or a full disk (ENOSPC) therefore leaves either the previous complete output or
nothing, never a half-written one; the partial directory of a killed writer is removed by the
next run. Single-file outputs (the token list, the BPE model) go through
:func:`atomic_write_file` (temp name, rename) and get a marker in their directory.

``.done.json`` (one per stage output directory)::

    {"stage": "dump_units", "format": 1,
     "counts": {"in": 10, "written": 9, "skipped": 1},
     "params": {...the options that shape the output...},
     "inputs": {"feats": "<fingerprint>", "km": "<fingerprint>"},
     "lineage": {"learn_kmeans": "<fingerprint>", "make_token_list": "<fingerprint>"},
     "files": {"units": {"size": 1234, "sha256": "..."}, ...},
     "fingerprint": "<sha256 over files>"}

A *fingerprint* is the sha256 of content: for a stage directory, of its file list and file
hashes (so rerunning a deterministic stage gives the same fingerprint and a changed input
gives a new one); for a plain input file, of its bytes. ``lineage`` carries the fingerprints of
the stages whose output must be the same for everything one model sees (the k-means codebook
and the token list) from input to output, so a later stage (training, evaluation) can tell
that two inputs were made from different codebooks even when their names are the same.

Readers call :func:`check_stage` on an input directory: a marker whose files are missing or
whose sizes differ is an error naming the file; a directory without a marker (made by hand or
by an older lst) is accepted with one logged warning, since its completeness cannot be known.
"""
import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Union

logger = logging.getLogger("lst.stage_io")

MARKER = ".done.json"
FORMAT = 1
PARTIAL = ".partial-"
# stages whose output every later artefact of one model must share (see ``lineage``)
SHARED_STAGES = ("learn_kmeans", "make_token_list")

PathLike = Union[str, os.PathLike]


class StageError(Exception):
    """A stage input or output problem; ``str(error)`` is one line meant for the user."""


def sha256_file(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(obj) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, ensure_ascii=False))


def io_error_message(where: PathLike, e: OSError) -> str:
    """One line for an OSError while writing ``where`` (ENOSPC named as such)."""
    what = "disk full (ENOSPC)" if e.errno == errno.ENOSPC else (e.strerror or type(e).__name__)
    path = f" {e.filename}" if getattr(e, "filename", None) else ""
    return f"{where}: cannot write{path}: {what}"


# ---- fingerprints --------------------------------------------------------------------------


def _file_entries(root: Path, files: Iterable[Path]) -> Dict[str, Dict]:
    out = {}
    for p in sorted(files):
        rel = os.path.relpath(p, root)
        out[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return out


def tree_files(root: Path):
    """Every regular file under ``root`` except the marker."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.name != MARKER]


def read_marker(directory: PathLike) -> Optional[Dict]:
    path = Path(directory) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StageError(f"{path}: unreadable completion marker ({type(e).__name__}: {e}); "
                         "rerun the stage that made it") from None
    if not isinstance(marker, dict) or "fingerprint" not in marker or "files" not in marker:
        raise StageError(f"{path}: not a completion marker (no fingerprint/files); rerun the stage that made it")
    return marker


def fingerprint(path: PathLike) -> str:
    """Content fingerprint of an input: a marked stage directory (its marker's fingerprint),
    a file inside one that its marker lists (that file's hash), or any other file (sha256)."""
    p = Path(path)
    if p.is_dir():
        marker = read_marker(p)
        if marker is not None:
            return marker["fingerprint"]
        return sha256_json(_file_entries(p, tree_files(p)))
    marker = read_marker(p.parent) if p.parent.is_dir() else None
    if marker is not None:
        entry = marker["files"].get(p.name)
        if entry is not None and p.is_file() and p.stat().st_size == entry["size"]:
            return entry["sha256"]
    return sha256_file(p)


def lineage_of(path: PathLike) -> Dict[str, str]:
    """The ``lineage`` recorded for a stage output (a directory, or a file in a marked dir)."""
    p = Path(path)
    marker = read_marker(p if p.is_dir() else p.parent)
    return dict(marker.get("lineage", {})) if marker else {}


def merge_lineage(named: Mapping[str, Mapping[str, str]]) -> Dict[str, str]:
    """Union of the inputs' lineages; two inputs made from different codebooks / token lists
    are refused, naming both."""
    merged, source = {}, {}
    for name, lineage in named.items():
        for stage, fp in (lineage or {}).items():
            if stage in merged and merged[stage] != fp:
                raise StageError(f"{source[stage]} and {name} were made from different {stage} outputs "
                                 f"({merged[stage][:12]} vs {fp[:12]}); rerun the stages after {stage}")
            merged[stage], source[stage] = fp, name
    return merged


def lineage_conflicts(a: Mapping[str, str], b: Mapping[str, str]):
    """Stages both lineages name with different fingerprints."""
    return [s for s in a if s in b and a[s] != b[s]]


# ---- checking an input ----------------------------------------------------------------------


def check_stage(directory: PathLike, made_by: str, tool: str = "", verify_hash: bool = False) -> Optional[Dict]:
    """Check a stage output directory before reading it; returns its marker (None if absent).

    Missing listed files or changed sizes (a truncated or appended file) are a
    :class:`StageError` naming the file and the command that remakes it.
    """
    d = Path(directory)
    prefix = f"{tool}: " if tool else ""
    if not d.is_dir():
        raise StageError(f"{prefix}{d} not found (made by {made_by})")
    marker = read_marker(d)
    if marker is None:
        logger.warning("%s%s has no completion marker %s (made by hand or an older lst): its "
                       "completeness cannot be checked; rerun %s to get one", prefix, d, MARKER, made_by)
        return None
    for rel, entry in marker["files"].items():
        f = d / rel
        if not f.is_file():
            raise StageError(f"{prefix}{f} is missing, but {d / MARKER} lists it: the output is incomplete; "
                             f"rerun {made_by}")
        size = f.stat().st_size
        if size != entry["size"]:
            raise StageError(f"{prefix}{f} has {size} bytes, {d / MARKER} recorded {entry['size']}: it changed "
                             f"after the stage finished (truncated or edited); rerun {made_by}")
        if verify_hash and sha256_file(f) != entry["sha256"]:
            raise StageError(f"{prefix}{f} content differs from {d / MARKER} (sha256); rerun {made_by}")
    return marker


def check_input_file(path: PathLike, made_by: str, tool: str = "") -> Optional[Dict]:
    """:func:`check_stage` for the directory holding ``path`` when it has a marker; also
    requires ``path`` itself to exist."""
    p = Path(path)
    prefix = f"{tool}: " if tool else ""
    if not p.is_file():
        raise StageError(f"{prefix}{p} not found (made by {made_by})")
    if (p.parent / MARKER).is_file():
        marker = check_stage(p.parent, made_by, tool)
        return marker
    return None


# ---- writing --------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(final: Path) -> None:
    """Remove ``.<name>.partial-<pid>`` siblings left by writers that no longer run."""
    parent = final.parent
    if not parent.is_dir():
        return
    for p in parent.glob(f".{final.name}{PARTIAL}*"):
        pid = p.name.rsplit("-", 1)[-1].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        logger.warning("removing %s: a partial output left by a killed or failed run", p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def marker_dict(stage: str, root: Path, files, counts=None, params=None, inputs=None,
                lineage=None, by_name: bool = False) -> Dict:
    entries = _file_entries(root, files)
    # single-file outputs are fingerprinted by file name, so the markers beside each of them
    # (token list dir, BPE dir) carry the same fingerprint
    fp = sha256_json({os.path.basename(k): v for k, v in entries.items()} if by_name else entries)
    lineage = dict(lineage or {})
    if stage in SHARED_STAGES:
        lineage[stage] = fp
    return {"stage": stage, "format": FORMAT, "counts": dict(counts or {}), "params": dict(params or {}),
            "inputs": dict(inputs or {}), "lineage": lineage, "files": entries, "fingerprint": fp}


def write_json_atomic(path: PathLike, obj) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class StagedDir:
    """The temporary directory of one stage run (``path``) and its commit."""

    def __init__(self, final: Path, stage: str):
        self.final = final
        self.stage = stage
        self.path = final.parent / f".{final.name}{PARTIAL}{os.getpid()}"
        self.marker = None

    def final_path(self, name: PathLike) -> str:
        """Absolute path ``name`` will have once committed (for scp files that name it)."""
        return str((self.final / name).absolute())

    def complete(self, counts=None, params=None, inputs=None, lineage=None) -> Dict:
        """Write the marker; the directory is swapped into place when the ``with`` ends."""
        self.marker = marker_dict(self.stage, self.path, tree_files(self.path), counts, params, inputs, lineage)
        write_json_atomic(self.path / MARKER, self.marker)
        return self.marker

    def _commit(self) -> None:
        old = None
        if self.final.exists() or self.final.is_symlink():
            old = self.final.parent / f".{self.final.name}{PARTIAL}{os.getpid()}.old"
            if old.exists():
                shutil.rmtree(old, ignore_errors=True)
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


@contextlib.contextmanager
def staged_dir(out_dir: PathLike, stage: str):
    """``with staged_dir(out, "dump_units") as s: write under s.path; s.complete(...)``.

    Leaves ``out`` as it was unless the block finished and ``complete`` was called. An
    OSError (ENOSPC, permission) becomes a one-line :class:`StageError`.
    """
    final = Path(out_dir)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(final)
        staged = StagedDir(final, stage)
        if staged.path.exists():
            shutil.rmtree(staged.path)
        staged.path.mkdir()
    except OSError as e:
        raise StageError(f"{stage}: {io_error_message(final, e)}") from None
    try:
        yield staged
        if staged.marker is None:
            raise StageError(f"{stage}: {final}: the stage ended without completing its output")
        staged._commit()
    except OSError as e:
        shutil.rmtree(staged.path, ignore_errors=True)
        raise StageError(f"{stage}: {io_error_message(final, e)}; the previous output, if any, is unchanged") \
            from None
    except BaseException:
        shutil.rmtree(staged.path, ignore_errors=True)
        raise


def atomic_write_file(path: PathLike, write, mode: str = "w", **open_kw) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    try:
        with open(tmp, mode, **open_kw) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **open_kw):
    """``with atomic_open(path) as f: f.write(...)``: the file appears under ``path`` complete
    (renamed from a temporary name when the block ends) or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    try:
        with open(tmp, mode, **open_kw) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def mark_file_outputs(stage: str, files, inputs: Mapping[str, Optional[PathLike]], counts=None,
                      params=None) -> Dict:
    """Completion marker for a tool that writes single files (e.g. a corpus ``seqs``/``docs``):
    ``.done.json`` in the first file's directory, with the inputs' fingerprints and their
    merged lineage (two inputs from different codebooks are a :class:`StageError`)."""
    files = [Path(f) for f in files if f is not None]
    given = {k: v for k, v in inputs.items() if v is not None and os.path.exists(v)}
    lineage = merge_lineage({str(v): lineage_of(v) for v in given.values()})
    return write_file_marker(files[0].parent, stage, files, counts, params,
                             {k: fingerprint(v) for k, v in given.items()}, lineage)


def write_file_marker(directory: PathLike, stage: str, files, counts=None, params=None, inputs=None,
                      lineage=None) -> Dict:
    """Marker for single-file outputs: ``directory/.done.json`` listing ``files`` (relative
    to ``directory``; files elsewhere are listed with a relative path too)."""
    d = Path(directory)
    marker = marker_dict(stage, d, [Path(f) for f in files], counts, params, inputs, lineage, by_name=True)
    write_json_atomic(d / MARKER, marker)
    return marker


def refresh_marker(directory: PathLike, add=()) -> Dict:
    """Re-record the files of a marked directory after a later step of the same stage changed
    them on purpose (the recipe appends interleaved sequences to a corpus ``seqs``): same stage,
    inputs and lineage, new sizes and hashes, plus the files in ``add``."""
    d = Path(directory)
    marker = read_marker(d)
    if marker is None:
        raise StageError(f"{d}: no completion marker {MARKER} to refresh")
    files = [d / rel for rel in marker["files"]] + [Path(f) for f in add]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise StageError(f"{d}: cannot refresh {MARKER}: {missing[0]} not found")
    by_name = marker["stage"] in SHARED_STAGES or any(".." in rel for rel in marker["files"])
    new = marker_dict(marker["stage"], d, sorted(set(files)), marker.get("counts"), marker.get("params"),
                      marker.get("inputs"), {k: v for k, v in marker.get("lineage", {}).items()
                                             if k != marker["stage"]}, by_name=by_name)
    write_json_atomic(d / MARKER, new)
    return new


def remove_marker(directory: PathLike) -> None:
    """Before rewriting single-file outputs in place: the old marker no longer holds."""
    with contextlib.suppress(FileNotFoundError):
        (Path(directory) / MARKER).unlink()


# ---- experiments: what a model was trained on -----------------------------------------------

TRAIN_INPUTS = "train_inputs.json"
# training options that define the model; the others (max_epoch, patience, logging, workers)
# may change between a run and its resumption
MODEL_DEFINING_OPTIONS = ("model", "model_conf", "max_seq_len", "optim", "optim_conf", "scheduler",
                          "scheduler_conf", "batch_type", "batch_size", "batch_bins", "accum_grad", "seed",
                          "init_param", "grad_clip", "fold_length")


def token_list_fingerprint(tokens) -> str:
    """sha256 of the token list as written to a file (one token a line)."""
    return sha256_text("".join(f"{t}\n" for t in tokens))


def experiment_inputs(token_list, data: Mapping[str, Iterable[PathLike]], options: Mapping) -> Dict:
    """The record ``lst_train`` keeps in ``<exp>/train_inputs.json``.

    ``data``: {"train": [paths], "valid": [paths]}; ``options``: the parsed training
    options (only :data:`MODEL_DEFINING_OPTIONS` are kept).
    """
    files, lineages = {}, {}
    for role, paths in data.items():
        for p in paths:
            p = Path(p)
            files[f"{role}:{p.absolute()}"] = fingerprint(p)
            lineages[str(p)] = lineage_of(p)
    opts = {k: options[k] for k in MODEL_DEFINING_OPTIONS if k in options}
    return {"token_list": token_list_fingerprint(token_list), "data": files,
            "options": json.loads(json.dumps(opts, default=str)), "lineage": merge_lineage(lineages)}


def changed_inputs(old: Mapping, new: Mapping):
    """Human-readable names of what differs between two :func:`experiment_inputs` records."""
    changes = []
    if old.get("token_list") != new.get("token_list"):
        changes.append("the token list")
    old_data, new_data = old.get("data", {}), new.get("data", {})
    for key in sorted(set(old_data) | set(new_data)):
        role, path = key.split(":", 1)
        if key not in new_data:
            changes.append(f"{role} data {path} (no longer given)")
        elif key not in old_data:
            changes.append(f"{role} data {path} (new)")
        elif old_data[key] != new_data[key]:
            changes.append(f"{role} data {path}")
    old_opts, new_opts = old.get("options", {}), new.get("options", {})
    for key in sorted(set(old_opts) | set(new_opts)):
        if old_opts.get(key) != new_opts.get(key):
            changes.append(f"option {key}")
    for stage in lineage_conflicts(old.get("lineage", {}), new.get("lineage", {})):
        changes.append(f"the {stage} output the data was made from")
    return changes


def read_train_inputs(*candidates: PathLike) -> Optional[Dict]:
    """The first ``train_inputs.json`` found in the candidate directories (None if none)."""
    for d in candidates:
        p = Path(d) / TRAIN_INPUTS
        if p.is_file():
            try:
                return json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise StageError(f"{p}: unreadable ({type(e).__name__}: {e})") from None
    return None


def check_eval_data(record: Mapping, data_paths: Iterable[PathLike], where: str) -> None:
    """Refuse evaluation data made from other inputs than the model was trained on.

    A corpus with a marker must share the training data's k-means/token-list lineage; a
    corpus the model was trained or validated on must still have the recorded content.
    """
    lineage = record.get("lineage", {})
    recorded = {}
    for key, fp in record.get("data", {}).items():
        recorded.setdefault(key.split(":", 1)[1], fp)
    for p in data_paths:
        p = Path(p)
        bad = lineage_conflicts(lineage, lineage_of(p))
        if bad:
            raise StageError(f"{p} was made from another {bad[0]} output than the data {where} was trained on; "
                             f"evaluate on a corpus built from the same units, or retrain")
        old = recorded.get(str(p.absolute()))
        if old is not None and fingerprint(p) != old:
            raise StageError(f"{p} changed since {where} was trained on it (rebuilt from new units or new "
                             f"utterances?); retrain into a new experiment (recipes: --lst_tag) before evaluating on it")
