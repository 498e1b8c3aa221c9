"""Loading a trained model (ESPnet config.yaml + checkpoint) for evaluation, with one-line errors.

Shared by the evaluation tools (lst.bin.evaluate, story_eval, score_benchmark): a damaged or
missing file is a :class:`ModelLoadError` naming it, and :func:`check_trained_on` refuses data
made from other inputs than the model's (lst.stage_io).
"""
import logging
from pathlib import Path

from lst.stage_io import check_eval_data, read_train_inputs
from lst.train.config_check import ConfigError
from lst.train.trainer import checkpoint_problem


class ModelLoadError(Exception):
    """A config/checkpoint pair that cannot be turned into a model; one line for the user."""


def load_model(config: str, model_file: str, device: str = "cpu"):
    """-> (model in eval mode, training args); a damaged file is a :class:`ModelLoadError`
    naming it (truncated or corrupt checkpoint, unreadable config, weights that do not fit)."""
    for path in (config, model_file):
        if not Path(path).is_file():
            raise ModelLoadError(f"{path} not found")
    problem = checkpoint_problem(model_file)
    if problem:
        raise ModelLoadError(f"{model_file}: cannot be loaded ({problem})")
    from lst.tasks.lst import LSTTask  # the task imports espnet's AbsTask: only when a model is loaded

    try:
        model, args = LSTTask.build_model_from_file(config, model_file, device=device)
    except ConfigError as e:
        raise ModelLoadError(f"{config}: {e}") from None
    except Exception as e:  # noqa: BLE001 - yaml, pickle, state-dict mismatch: name the files
        detail = " ".join(str(e).split())[:300]
        raise ModelLoadError(f"{model_file} (with {config}): cannot be loaded: {type(e).__name__}: {detail}") \
            from None
    model.eval()
    return model, args


def check_trained_on(config: str, model_file: str, data_paths) -> None:
    """Refuse data made from other inputs than the model's (see lst.stage_io.check_eval_data)."""
    dirs = [Path(config).parent, Path(model_file).resolve().parent, Path(model_file).parent]
    record = read_train_inputs(*dirs)
    if record is None:
        logging.warning(f"no train_inputs.json beside {config}: cannot check that the evaluation data was "
                        "made from the same units and token list as the training data")
        return
    check_eval_data(record, data_paths, where=str(Path(config).parent))
