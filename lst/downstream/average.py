"""Checkpoint averaging (asr.sh stage 10, ``--pick_average N``).

ESPnet decodes the average of the n best epochs by a validation criterion
(``valid.acc.ave_10best.pth``, espnet2.main_funcs.average_nbest_models). Its criterion is read
from the trainer's reporter; the downstream recipes pick by the validation WER of stage 9's
decodes instead (lst.downstream.curve.pick_checkpoint), so the averaging is done here on the
checkpoints those decodes name. The rule is ESPnet's: floating-point tensors are averaged,
integer tensors (counters) are summed and floor-divided.
"""
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Sequence

import torch


class AverageError(ValueError):
    """A checkpoint that cannot be averaged with the others (named in the message)."""


def _load_state(path: Path) -> Dict[str, torch.Tensor]:
    if not path.is_file():
        raise AverageError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which one
        raise AverageError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise AverageError(f"{path}: not a model state dict (name -> tensor), as <N>epoch.pth is")
    return state


def average_checkpoints(paths: Sequence[Path]) -> "OrderedDict[str, torch.Tensor]":
    """The element-wise average of the model state dicts in ``paths`` (at least one), in the
    first one's key order and dtypes. Every checkpoint must hold the same names and shapes."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise AverageError("no checkpoints to average")
    if len(set(paths)) != len(paths):
        raise AverageError(f"a checkpoint is listed twice: {', '.join(map(str, paths))}")
    first = _load_state(paths[0])
    total = OrderedDict((k, v.clone().double() if v.is_floating_point() else v.clone().long())
                        for k, v in first.items())
    for p in paths[1:]:
        state = _load_state(p)
        if state.keys() != first.keys():
            diff = sorted(set(state) ^ set(first))
            raise AverageError(f"{p}: its parameters differ from {paths[0]}'s ({', '.join(diff[:5])}"
                               f"{' ...' if len(diff) > 5 else ''})")
        for k, v in state.items():
            if v.shape != first[k].shape:
                raise AverageError(f"{p}: '{k}' has shape {tuple(v.shape)}, {paths[0]} {tuple(first[k].shape)}")
            total[k] += v.double() if v.is_floating_point() else v.long()
    n = len(paths)
    return OrderedDict((k, (v / n).to(first[k].dtype) if first[k].is_floating_point()
                        else torch.div(v, n, rounding_mode="floor").to(first[k].dtype))
                       for k, v in total.items())
