"""Train a speech-text LM (token baseline or LST) with ESPnet's trainer.

    python -m lst.bin.lst_train --config conf/train_lst.yaml --token_list data/token_list/tokens.txt ...

Before training, the inputs of the experiment (token list, train/valid corpora with their
k-means/token-list lineage, and the model-defining options) are recorded in
``<output_dir>/train_inputs.json`` (lst/stage_io.py). A run into a directory that already holds
checkpoints of a model trained on other inputs is refused with one line naming what changed:
``--resume true`` would otherwise continue (or, when finished, silently keep) the old model and
evaluate it as if it were trained on the new data. When training ends, ``<output_dir>/.done.json``
marks the experiment complete.
"""
import logging
import sys
from pathlib import Path

from lst.stage_io import (MARKER, TRAIN_INPUTS, StageError, changed_inputs, experiment_inputs, marker_dict,
                          read_train_inputs, remove_marker, tree_files, write_file_marker, write_json_atomic)
from lst.tasks.lst import LSTTask
from lst.train.config_check import ConfigError, check_lengths

TOOL = "lst_train"


def get_parser():
    return LSTTask.get_parser()


def _data_paths(specs):
    return [spec[0] if isinstance(spec, (list, tuple)) else str(spec).split(",")[0] for spec in (specs or [])]


def _has_checkpoints(out: Path) -> bool:
    return out.is_dir() and any(p.suffix == ".pth" for p in out.iterdir())


def guard_experiment(args) -> dict:
    """Record the experiment's inputs; refuse an output dir trained on other inputs."""
    from lst.vocab import read_token_list

    out = Path(args.output_dir)
    if isinstance(args.token_list, (list, tuple)):
        tokens = list(args.token_list)
    elif args.token_list and Path(args.token_list).is_file():
        tokens = read_token_list(args.token_list)
    elif args.token_list:
        raise StageError(f"{TOOL}: token list {args.token_list} not found (made by stage 6: BPE + token list)")
    else:
        tokens = []  # ESPnet reports the missing --token_list itself
    data = {"train": _data_paths(args.train_data_path_and_name_and_type),
            "valid": _data_paths(args.valid_data_path_and_name_and_type)}
    for role, paths in data.items():
        for p in paths:
            if not Path(p).is_file():
                raise StageError(f"{TOOL}: {role} data {p} not found (made by stage 7: corpus build)")
            if not Path(p).read_bytes()[:1 << 16].strip():
                raise StageError(f"{TOOL}: {role} data {p} is empty (no sequences); rerun stage 7 (corpus build) "
                                 "and check its log for skipped utterances")
    current = experiment_inputs(tokens, data, vars(args))
    old = read_train_inputs(out)
    if old is not None and _has_checkpoints(out):
        changes = changed_inputs(old, current)
        if changes:
            raise StageError(
                f"{TOOL}: {out} holds a model trained on other inputs (changed: {'; '.join(changes)}); "
                f"train into a new experiment directory (recipes: ./run.sh --lst_tag NEW; or another --output_dir), "
                f"or remove {out} to start over")
    elif old is None and _has_checkpoints(out) and getattr(args, "resume", False):
        logging.warning(f"{TOOL}: {out} has checkpoints but no {TRAIN_INPUTS} (made by an older lst): "
                        "cannot check that it was trained on the same inputs; recording the current ones")
    out.mkdir(parents=True, exist_ok=True)
    remove_marker(out)
    write_json_atomic(out / TRAIN_INPUTS, current)
    return current


def mark_done(args, inputs) -> None:
    out = Path(args.output_dir)
    if getattr(args, "collect_stats", False):
        marker = marker_dict(TOOL, out, tree_files(out), counts={}, params={"collect_stats": True},
                             inputs=inputs["data"], lineage=inputs["lineage"])
        write_json_atomic(out / MARKER, marker)
    else:
        files = [out / TRAIN_INPUTS] + [out / f for f in ("config.yaml",) if (out / f).is_file()]
        write_file_marker(out, TOOL, files, counts={}, params=inputs["options"], inputs=inputs["data"],
                          lineage=inputs["lineage"])


def check_max_len(args) -> None:
    """The longest training/validation sequence must fit the model (token baseline: exact,
    from the shape files of the collect-stats stage)."""
    if getattr(args, "collect_stats", False):
        return
    import inspect

    from lst.tasks.lst import model_choices

    try:
        model_class = model_choices.get_class(args.model)
    except Exception:  # noqa: BLE001 - ESPnet reports an unknown --model itself
        return
    default = inspect.signature(model_class.__init__).parameters.get("max_len")
    default = None if default is None else default.default
    shapes = list(getattr(args, "train_shape_file", None) or []) + list(getattr(args, "valid_shape_file", None) or [])
    check_lengths(args.model, args.model_conf, shapes, getattr(args, "max_seq_len", 0) or 0, default)


def leave_process_group() -> None:
    """Ranks of a distributed run leave together: a barrier, then the process group is destroyed.
    Without it a rank can exit while the other still holds its gloo connections, and the late
    rank aborts at interpreter exit ("terminate called without an active exception", rc -6)
    after a training run that succeeded."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(cmd=None):
    try:
        args = LSTTask.get_parser().parse_args(cmd)
        distributed_child = getattr(args, "dist_rank", None) not in (None, 0)
        check_max_len(args)
        inputs = None if distributed_child else guard_experiment(args)
        LSTTask.main(cmd=cmd)
        leave_process_group()
        if inputs is not None:
            mark_done(args, inputs)
    except (ConfigError, StageError) as e:
        msg = str(e)
        sys.exit(msg if msg.startswith(f"{TOOL}:") else f"{TOOL}: {msg}")
    except OSError as e:
        from lst.stage_io import io_error_message

        sys.exit(f"{TOOL}: {io_error_message(getattr(e, 'filename', None) or '?', e)}")
    except ValueError as e:  # RoPE: "sequence length N exceeds max_len M" in the first long batch
        if "exceeds max_len" not in str(e):
            raise
        sys.exit(f"{TOOL}: a training sequence is longer than the model allows ({e}); raise model_conf "
                 f"max_len, set --max_seq_len to cut longer sequences, or rebuild the corpus with a length limit")


if __name__ == "__main__":
    main()
