"""ESPnet's trainer, made crash-safe, for LSTTask.

ESPnet's ``Trainer.run`` writes ``checkpoint.pth``, ``{N}epoch.pth`` and the averaged models
with a plain ``torch.save(obj, path)``: a ``kill -9`` (OOM killer, preempted job, power loss)
during the write leaves a truncated file, and ``--resume true`` then crashes on it.
``LSTTrainer`` changes three things and inherits everything else:

* **atomic saves**: while ``run`` executes, ``torch.save`` to a path goes through
  :func:`atomic_torch_save` (temp file in the same directory, fsync, ``os.replace``, fsync of
  the directory), so every checkpoint file is either the old one or the complete new one.
* **tolerant resume**: a ``checkpoint.pth`` that is not a complete archive (left by an older,
  non-atomic run, or a damaged disk) is moved aside to ``checkpoint.pth.corrupt`` and training
  starts over from epoch 1, with one logged error that says so and how to warm-start from the
  newest ``{N}epoch.pth`` instead. A file that is complete but does not fit the model still
  fails loudly (that is a configuration error, not a crash artefact).
* **repair after resume**: a kill between ``checkpoint.pth`` and ``{N}epoch.pth`` (or the
  ``latest.pth``/``*.best.pth`` links) is repaired from the checkpoint; stale temp files of
  a killed writer are removed.

It counts optimizer updates for the model (``count_optimizer_updates``: LSTModel's
curriculum schedule advances per update, also under ``accum_grad``, and resumes with the
checkpoint).

It also makes ESPnet's multi-process (DDP) and multi-GPU paths work with our models, which
return 0-dim stats and leave a stat None when the batch has no such targets (``loss_text``
for a speech-only batch): in those modes a forward hook turns scalars into 1-dim tensors
(ESPnet's ``force_gatherable`` convention, without which ``recursive_average`` fails an
assertion) and a None stat into NaN, so every rank all-gathers the same keys in the same
order (without it, ranks whose shards differ in content issue different collectives).
"""
import contextlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Iterator, Optional, Union

import torch

from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.trainer import Trainer

_torch_save = torch.save  # the real writer; atomic_torch_save wraps it
TMP_SUFFIX = ".lst-tmp"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory fds: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj, f, *args, **kwargs) -> None:
    """``torch.save`` that never leaves a partial file at ``f`` (when ``f`` is a path).

    Writes ``.<name>.<pid>.lst-tmp`` in the same directory, fsyncs it, renames it over ``f``
    (atomic on POSIX) and fsyncs the directory. File objects are passed through unchanged.
    """
    if not isinstance(f, (str, os.PathLike)):
        return _torch_save(obj, f, *args, **kwargs)
    path = Path(f)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        # os.open with 0o666 honours the umask, like torch.save's own open()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "wb") as fh:
            _torch_save(obj, fh, *args, **kwargs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_torch_saves() -> Iterator[None]:
    """Route every ``torch.save(obj, path)`` in this process through :func:`atomic_torch_save`."""
    previous = torch.save
    torch.save = atomic_torch_save
    try:
        yield
    finally:
        torch.save = previous


def checkpoint_problem(path: Union[str, Path]) -> Optional[str]:
    """Why ``path`` cannot be a complete torch checkpoint, or None if it looks complete.

    torch.save writes a zip archive with a CRC per record; a truncated file has no central
    directory, and a damaged one fails a CRC. This reads the file once without unpickling.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty file"
        if not zipfile.is_zipfile(path):
            try:  # a pre-1.6 (non-zip) torch file is still a valid checkpoint
                torch.load(path, map_location="cpu", weights_only=False)
                return None
            except Exception as e:  # noqa: BLE001 - any failure means unreadable
                return f"not a complete torch archive ({size} bytes, truncated?): {type(e).__name__}: {e}"
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
        if bad is not None:
            return f"CRC mismatch in record {bad!r}"
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _gatherable_output(module, inputs, output):
    """Forward hook for multi-process / multi-GPU training (ESPnet's ``ngpu > 1 or
    distributed`` path): scalars become 1-dim tensors (ESPnet's ``force_gatherable``
    convention; its ``recursive_average`` asserts ``stat.size() == weight.size()``) and a
    None stat becomes NaN, so every rank all-gathers the same keys in the same order
    (ESPnet's ``recursive_sum`` and reporter skip NaN)."""
    if not isinstance(output, (tuple, list)) or len(output) != 3:
        return None
    loss, stats, weight = output
    device = loss.device
    stats = {k: torch.tensor(float("nan"), device=device) if v is None else v for k, v in stats.items()}
    return force_gatherable((loss, stats, weight), device)


def count_optimizer_updates(model, optimizers) -> list:
    """After every optimizer update (not every forward: with ``accum_grad`` N there are N
    forwards per update; an update skipped for a non-finite gradient does not count), call
    ``model.on_optimizer_step()`` if the model has one (LSTModel's curriculum clock, a buffer
    saved in the checkpoint, so a resumed run continues it). With several optimizers (ESPnet
    steps each once per update) only the first is counted. -> the hook handles."""
    target = getattr(model, "module", model)  # DDP / DataParallel wrap the model
    fn = getattr(target, "on_optimizer_step", None)
    if fn is None or not optimizers:
        return []
    return [optimizers[0].register_step_post_hook(lambda *_: fn())]


class LSTTrainer(Trainer):
    """ESPnet ``Trainer`` with atomic checkpoint writes and a resume that survives crashes."""

    _options = None  # trainer options of the run in progress (used by resume to repair links)

    @classmethod
    def run(cls, model, optimizers, schedulers, train_iter_factory, valid_iter_factory,
            plot_attention_iter_factory, trainer_options, distributed_option) -> None:
        output_dir = Path(trainer_options.output_dir)
        if not distributed_option.distributed or distributed_option.dist_rank == 0:
            for stale in output_dir.glob(f".*{TMP_SUFFIX}"):
                logging.warning(f"Removing {stale}: a partial checkpoint left by a killed writer")
                stale.unlink(missing_ok=True)
        multi = distributed_option.distributed or distributed_option.ngpu > 1
        hook = model.register_forward_hook(_gatherable_output) if multi else None
        step_hooks = count_optimizer_updates(model, optimizers)
        cls._options = trainer_options
        try:
            with atomic_torch_saves():
                super().run(
                    model=model, optimizers=optimizers, schedulers=schedulers,
                    train_iter_factory=train_iter_factory, valid_iter_factory=valid_iter_factory,
                    plot_attention_iter_factory=plot_attention_iter_factory,
                    trainer_options=trainer_options, distributed_option=distributed_option,
                )
        finally:
            cls._options = None
            if hook is not None:
                hook.remove()
            for h in step_hooks:
                h.remove()

    @classmethod
    def resume(cls, checkpoint, model, reporter, optimizers, schedulers, scaler, ngpu: int = 0,
               strict: bool = True):
        checkpoint = Path(checkpoint)
        problem = checkpoint_problem(checkpoint)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        is_main = not distributed or torch.distributed.get_rank() == 0
        if distributed:  # every rank decides before rank 0 moves the file
            torch.distributed.barrier()
        if problem is not None:
            aside = checkpoint.with_name(checkpoint.name + ".corrupt")
            if is_main:
                os.replace(checkpoint, aside)
                epochs = sorted(
                    (int(p.name[: -len("epoch.pth")]), p) for p in checkpoint.parent.glob("*epoch.pth")
                    if p.name[: -len("epoch.pth")].isdigit() and checkpoint_problem(p) is None
                )
                hint = (f" To keep the weights of epoch {epochs[-1][0]} instead, rerun with --resume false "
                        f"--init_param {epochs[-1][1]} (optimizer and scheduler state start fresh)."
                        if epochs else "")
                logging.error(
                    f"Cannot resume from {checkpoint}: {problem}. It was left by a run killed while "
                    f"writing it (before checkpoints were written atomically) or the disk is damaged. "
                    f"Moved it to {aside}; training starts over from epoch 1.{hint}"
                )
            return
        super().resume(checkpoint=checkpoint, model=model, reporter=reporter, optimizers=optimizers,
                       schedulers=schedulers, scaler=scaler, ngpu=ngpu, strict=strict)
        if is_main:
            cls._repair_epoch_files(checkpoint.parent, model, reporter)

    @classmethod
    def _repair_epoch_files(cls, output_dir: Path, model, reporter) -> None:
        """After a kill between checkpoint.pth and {N}epoch.pth / its links: redo them."""
        epoch = reporter.get_epoch()
        if epoch < 1:
            return
        model_file = output_dir / f"{epoch}epoch.pth"
        if not model_file.exists() or checkpoint_problem(model_file) is not None:
            logging.warning(f"{model_file} is missing or incomplete (killed after checkpoint.pth); "
                            "rewriting it from checkpoint.pth")
            atomic_torch_save(model.state_dict(), model_file)
        links = {"latest.pth": epoch}
        options = cls._options
        for phase, key, mode in (options.best_model_criterion if options is not None else []):
            if reporter.has(phase, key):
                links[f"{phase}.{key}.best.pth"] = reporter.get_best_epoch(phase, key, mode)
        for name, e in links.items():
            link, target = output_dir / name, f"{e}epoch.pth"
            if (output_dir / target).exists() and not (link.is_symlink() and os.readlink(link) == target):
                logging.warning(f"Re-pointing {link} -> {target} (killed before it was updated)")
                link.unlink(missing_ok=True)
                link.symlink_to(target)
