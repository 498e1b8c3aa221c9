"""Import espnet without the parts this CPU install does not have.

espnet2.tasks.abs_task imports, through its adapter and beamformer modules,
``import torchaudio`` at module level, although lst never calls torchaudio. PyPI's
torchaudio wheels are CUDA builds that fail to load beside the CPU torch we install,
so when the real torchaudio cannot be imported we register a placeholder module whose
every attribute access raises a clear ImportError. A real, working torchaudio always wins.
"""
import importlib
import importlib.machinery
import logging
import os
import sys
import types

_MESSAGE = (
    "torchaudio is not installed in this lst environment (PyPI's torchaudio wheels are "
    "CUDA builds that do not load beside the CPU torch; see README 'Install'). "
    "The espnet feature you called needs it: install a torchaudio that matches your torch."
)


class _MissingTorchaudio(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{_MESSAGE} (attribute torchaudio.{name})")


def ensure_espnet_importable() -> None:
    """Make ``import espnet2.tasks.abs_task`` work offline on the CPU install."""
    if "torchaudio" not in sys.modules:
        try:
            importlib.import_module("torchaudio")
        except (ImportError, OSError):
            placeholder = _MissingTorchaudio("torchaudio")
            # a spec without a loader: importlib.util.find_spec (used by transformers'
            # availability checks) then works, and no package metadata means "not installed"
            placeholder.__spec__ = importlib.machinery.ModuleSpec("torchaudio", loader=None)
            sys.modules["torchaudio"] = placeholder
    # espnet's transformer layers print a notice when flash_attn is absent; it is
    # expected on CPU, so keep it out of every log line we produce.
    os.environ.setdefault("ESPNET_SKIP_FLASH_ATTN_WARNING", "1")
    logging.getLogger("espnet").setLevel(logging.WARNING)
