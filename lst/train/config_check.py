"""Readable errors for training-config mistakes that ESPnet passes through unchecked.

ESPnet's parser rejects an unknown top-level YAML key itself ("unrecognized arguments:
batch_szie (from conf.yaml)"), but ``model_conf`` is a free dict handed to the model's
constructor, so ``model_conf: {d_modle: 8}`` ends in a raw ``TypeError`` deep in a stack.
:func:`check_model_conf` turns that into one sentence naming the key, the closest valid key
and the full list, before the model is built. ``LSTTask.build_model`` calls it.
"""
import difflib
import inspect
from typing import Iterable, Mapping, Optional

# set by the task from the token list; a model_conf value for them would be overridden
TASK_KEYS = ("vocab_size", "unit_offset", "n_units")


class ConfigError(ValueError):
    """A training-config mistake; ``str(error)`` is one line meant for the user."""


def model_conf_keys(model_class) -> list:
    params = inspect.signature(model_class.__init__).parameters.values()
    return [p.name for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_model_conf(model_name: str, model_class, model_conf: Optional[Mapping],
                     task_keys: Iterable[str] = TASK_KEYS) -> None:
    """Raise :class:`ConfigError` for a ``model_conf`` key ``model_class`` does not take."""
    conf = dict(model_conf or {})
    params = inspect.signature(model_class.__init__).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return  # the model takes **kwargs: nothing to check against
    task_keys = set(task_keys)
    valid = [k for k in model_conf_keys(model_class) if k not in task_keys]
    for key in conf:
        if key in task_keys:
            raise ConfigError(f"model_conf: {key!r} is set by the task from --token_list; "
                              f"remove it from model_conf")
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"model_conf: unknown key {key!r} for --model {model_name}{hint}; "
                              f"valid keys: {', '.join(valid)}")
