"""Import espnet without the parts this CPU install does not have.

espnet2 imports several packages at module level that lst never calls:

* ``torchaudio`` (through espnet2.tasks.abs_task -> adapters -> enhancement beamformer, and
  ``torchaudio.compliance.kaldi`` in the BEATs encoder). PyPI's torchaudio wheels are CUDA
  builds that fail to load beside the CPU torch we install.
* ``g2p_en`` and friends (through espnet2.train.preprocessor -> phoneme tokenizer, which the
  ESPnet ASR baseline imports). g2p_en downloads nltk data when imported; lst must never
  touch the network at import time.

When the real package cannot be imported we register a placeholder package: importing it,
its submodules and names from it works, and calling anything from it raises an ImportError
that says why.
A real, working installation always wins.
"""
import importlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import types

OPTIONAL_PACKAGES = {
    "torchaudio": "PyPI's torchaudio wheels are CUDA builds that do not load beside the CPU torch",
    "g2p_en": "phoneme tokenizers are not part of lst (g2p_en downloads nltk data on import)",
    "jamo": "Korean phoneme tokenizers are not part of lst",
    "pypinyin": "Chinese phoneme tokenizers are not part of lst",
    "espnet_tts_frontend": "ESPnet TTS text frontends are not part of lst",
    "nltk": "espnet's English text cleaners are not used by lst (nltk fetches data from the network)",
    "fast_bss_eval": "speech-enhancement losses are not part of lst",
    "ci_sdr": "speech-enhancement losses are not part of lst",
    "jaconv": "Japanese text cleaners are not part of lst",
    "tacotron_cleaner": "espnet's TTS text cleaners are not part of lst",
}


def _missing_error(qualname: str) -> ImportError:
    root = qualname.split(".")[0]
    return ImportError(
        f"{qualname}: {root} is not installed in this lst environment "
        f"({OPTIONAL_PACKAGES[root]}; see README 'Install'). Install it to use this espnet feature."
    )


class _MissingAttribute:
    """Stands for ``from pkg import name``; using it raises the clear ImportError."""

    def __init__(self, qualname: str):
        self._qualname = qualname

    def __call__(self, *args, **kwargs):
        raise _missing_error(self._qualname)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _MissingAttribute(f"{self._qualname}.{name}")


class _MissingModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _MissingAttribute(f"{self.__name__}.{name}")


class _PlaceholderLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _MissingModule(spec.name)
        module.__path__ = []  # a package, so ``import pkg.sub.mod`` resolves through us
        return module

    def exec_module(self, module):
        pass


class _PlaceholderFinder(importlib.abc.MetaPathFinder):
    """Answers for the missing optional packages (and their submodules) only."""

    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, _PlaceholderLoader(), is_package=True)
        return None


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except (ImportError, OSError):
        # a half-loaded broken package (e.g. a CUDA torchaudio) must not linger
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False


def ensure_espnet_importable() -> None:
    """Make ``import espnet2.tasks.abs_task`` (and the ESPnet ASR task) work offline on CPU."""
    if not any(isinstance(f, _PlaceholderFinder) for f in sys.meta_path):
        missing = [name for name in OPTIONAL_PACKAGES if name not in sys.modules and not _importable(name)]
        if missing:
            sys.meta_path.insert(0, _PlaceholderFinder(missing))
    # espnet's transformer layers print a notice when flash_attn is absent; it is
    # expected on CPU, so keep it out of every log line we produce.
    os.environ.setdefault("ESPNET_SKIP_FLASH_ATTN_WARNING", "1")
    logging.getLogger("espnet").setLevel(logging.WARNING)
