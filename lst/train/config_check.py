"""Readable errors for training-config mistakes that ESPnet passes through unchecked.

ESPnet's parser rejects an unknown top-level YAML key itself ("unrecognized arguments:
batch_szie (from conf.yaml)"), but ``model_conf`` is a free dict handed to the model's
constructor, so ``model_conf: {d_modle: 8}`` ends in a raw ``TypeError`` deep in a stack.
:func:`check_model_conf` turns that into one sentence naming the key, the closest valid key
and the full list, before the model is built, and :func:`check_model_values` refuses
degenerate values (``d_model: 0``, ``n_layers: 0``, ``window: 0``, a width not divisible by the
heads, ...) with the key, the value and the allowed range. ``LSTTask.build_model`` calls it.
:func:`check_lengths` compares the model's ``max_len`` with the longest training sequence.
"""
import difflib
import inspect
from typing import Iterable, Mapping, Optional

# set by the task from the token list; a model_conf value for them would be overridden
TASK_KEYS = ("vocab_size", "unit_offset", "n_units")


# keys a model no longer takes -> their new name (the error says so)
RENAMED = {"cross_slots": "patch_vectors"}


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
        check_model_values(model_name, model_class, conf)
        return  # the model takes **kwargs: no key list to check against
    task_keys = set(task_keys)
    valid = [k for k in model_conf_keys(model_class) if k not in task_keys]
    for key in conf:
        if key in task_keys:
            raise ConfigError(f"model_conf: {key!r} is set by the task from --token_list; "
                              f"remove it from model_conf")
        if key not in valid:
            if RENAMED.get(key) in valid:
                raise ConfigError(f"model_conf: {key!r} was renamed to {RENAMED[key]!r} for --model {model_name} "
                                  f"(issue 12); rename the key")
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"model_conf: unknown key {key!r} for --model {model_name}{hint}; "
                              f"valid keys: {', '.join(valid)}")
    check_model_values(model_name, model_class, conf)
    trial_build(model_name, model_class, conf)


TRIAL_TASK_ARGS = {"vocab_size": 4160, "unit_offset": 64, "n_units": 4096}


def trial_build(model_name: str, model_class, conf: Mapping) -> None:
    """Construct the model on the ``meta`` device (no memory, no compute), so constraints the
    constructor derives (a default local width that the local heads do not divide, an odd
    head dimension) are one sentence before training instead of a traceback. Failures that
    are not about the configuration (an op without a meta kernel) are left to the real build."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    params = inspect.signature(model_class.__init__).parameters
    task_args = {k: v for k, v in TRIAL_TASK_ARGS.items() if k in params}
    try:
        with torch.device("meta"):
            model_class(**task_args, **dict(conf))
    except (AssertionError, ZeroDivisionError, ValueError, TypeError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(f"model_conf {json_line(conf)} cannot build --model {model_name}: {detail}") from None
    except Exception:  # noqa: BLE001 - not a configuration problem; the real build will tell
        return


def json_line(conf: Mapping) -> str:
    import json

    return json.dumps(dict(conf), sort_keys=True, default=str)


# ---- values: generic rules by key name ------------------------------------------------------
# A key is checked by its name wherever it appears, so renamed or new model options
# (cross_slots -> patch_vectors, decoder_window, ...) are covered once they follow the names;
# a key without a rule is only type-checked against the constructor's default.

POSITIVE_INT_KEYS = ("d_model", "n_layers", "n_heads", "local_d_model", "local_heads", "local_enc_layers",
                     "local_dec_layers", "window", "decoder_window", "cross_slots", "patch_vectors", "patch_size",
                     "max_patch_len", "max_len", "ffn_multiple_of", "curriculum_total_steps")
NON_NEGATIVE_KEYS = ("boundary_loss_weight", "prompt_loss_weight", "seed", "speech_masks", "speech_mask_width")
POSITIVE_KEYS = ("rope_theta", "init_std")
UNIT_INTERVAL_KEYS = {"dropout": (0.0, 1.0)}  # [lo, hi)
# (width, heads): the width must split into an even head dimension (RoPE rotates pairs)
HEAD_PAIRS = (("d_model", "n_heads"), ("local_d_model", "local_heads"))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_ok(value, default) -> bool:
    if default is None or value is None:
        return True  # Optional: anything or None; the constructor decides
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return _is_int(value)
    if isinstance(default, float):
        return _is_number(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return True


def check_model_values(model_name: str, model_class, model_conf: Optional[Mapping]) -> None:
    """Raise :class:`ConfigError` naming the key, the value and the allowed range for a
    degenerate ``model_conf`` (``d_model: 0``, ``n_layers: 0``, ``window: 0``, ``d_model`` not
    divisible by the heads, ``dropout: 1.5``, a string where a number belongs, ...)."""
    conf = dict(model_conf or {})
    defaults = {p.name: p.default for p in inspect.signature(model_class.__init__).parameters.values()
                if p.default is not inspect.Parameter.empty}

    def bad(key, allowed):
        raise ConfigError(f"model_conf: {key}: {conf[key]!r} for --model {model_name}; allowed: {allowed}")

    for key, value in conf.items():
        if key in POSITIVE_INT_KEYS:
            if value is None and defaults.get(key, 0) is None:
                continue
            if not _is_int(value) or value < 1:
                bad(key, "an integer >= 1" + (" (or null)" if key in defaults and defaults[key] is None else ""))
        elif key in NON_NEGATIVE_KEYS:
            if value is None and defaults.get(key, 0) is None:
                continue
            if not _is_number(value) or value < 0:
                bad(key, "a number >= 0")
        elif key in POSITIVE_KEYS:
            if value is None and defaults.get(key, 0) is None:
                continue
            if not _is_number(value) or value <= 0:
                bad(key, "a number > 0")
        elif key in UNIT_INTERVAL_KEYS:
            lo, hi = UNIT_INTERVAL_KEYS[key]
            if not _is_number(value) or not lo <= value < hi:
                bad(key, f"a number in [{lo}, {hi})")
        elif key in defaults and not _type_ok(value, defaults[key]):
            bad(key, f"a {type(defaults[key]).__name__} like the default {defaults[key]!r}")
    for width_key, heads_key in HEAD_PAIRS:
        width = conf.get(width_key, defaults.get(width_key))
        heads = conf.get(heads_key, defaults.get(heads_key))
        if not (_is_int(width) and _is_int(heads)) or (width_key not in conf and heads_key not in conf):
            continue
        if width % heads or (width // heads) % 2:
            raise ConfigError(f"model_conf: {width_key}: {width} with {heads_key}: {heads} for --model {model_name}; "
                              f"allowed: {width_key} divisible by {heads_key} into an even head dimension "
                              f"({width_key} = {heads_key} x 2k)")


def check_lengths(model_name: str, model_conf: Optional[Mapping], shape_files, max_seq_len: int = 0,
                  default_max_len: Optional[int] = None) -> None:
    """For the token baseline, every training sequence (``<sos/eos>`` ... ``<sos/eos>``) must
    fit the model's positions: ``length - 1 <= max_len``. Reads ESPnet shape files
    (``id length[,dim]``) and names the longest sequence that does not fit. (LST's global and
    local lengths depend on the patching, so its limit is checked when the batch is built.)"""
    if model_name != "token_lm":
        return
    max_len = (model_conf or {}).get("max_len", default_max_len)
    if not _is_int(max_len):
        return
    longest = None
    for path in shape_files or []:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 2:
                        continue
                    n = int(parts[1].split(",")[0])
                    if max_seq_len:
                        n = min(n, max_seq_len)
                    if longest is None or n > longest[1]:
                        longest = (parts[0], n, path)
        except (OSError, ValueError):
            return  # ESPnet reports unreadable shape files itself
    if longest is not None and longest[1] - 1 > max_len:
        utt, n, path = longest
        raise ConfigError(f"model_conf: max_len: {max_len} is shorter than sequence {utt} ({n} tokens, {path}); "
                          f"allowed: max_len >= {n - 1}, or --max_seq_len <= {max_len + 1} to cut longer sequences")
