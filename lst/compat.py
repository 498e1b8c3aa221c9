"""Import the few espnet modules whose import chain reaches a package this install lacks.

Nothing here runs at import time, and nothing outlives the ``with`` block that asks for it.

Two espnet import chains reach packages that lst never calls and cannot (or must not) have:

* ``espnet2.tasks.abs_task`` (lst's task, the ESPnet ASR and SSL tasks) imports ``torchaudio`` through
  the S3PRL frontend -> DNN beamformer -> ``espnet2.enh.layers.beamformer_th`` (espnet 202511);
  s3prl's upstream loaders import it through ``s3prl.util.pseudo_data`` (s3prl 0.4.18).
  PyPI's torchaudio wheels are CUDA builds that fail to load beside the CPU torch we install.
* ``espnet2.tasks.asr`` (the ESPnet ASR baseline) and ``espnet2.tasks.ssl`` import ``g2p_en``, which downloads nltk data
  when imported (lst never touches the network at import time); ``espnet2.bin.asr_inference``
  also imports ``ci_sdr`` (speech-enhancement loss), whose PyPI release declares a git URL
  dependency that pip refuses to install.

``espnet_placeholders(names)`` covers one import statement::

    with espnet_placeholders(("torchaudio",)):
        from espnet2.tasks.abs_task import AbsTask

While the block runs, a finder placed *last* on ``sys.meta_path`` answers for the named
packages: an installed package is found first by the normal finders, so a real install always
wins, and an espnet version that does not import the package on that path fakes nothing.
A package that is installed but fails to load (a CUDA torchaudio beside a CPU torch) is the one
case where the placeholder is put first. On exit the finder is removed and the placeholders
leave ``sys.modules``: afterwards ``importlib.util.find_spec(name)`` and ``import name`` behave
exactly as without lst. The espnet module that imported a placeholder keeps its reference;
calling anything from it raises an ImportError that says which package and why.
"""
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import types
from typing import Iterable, Iterator, List

# The only packages a placeholder may stand for, and why each is not installed.
PLACEHOLDER_REASONS = {
    "torchaudio": "PyPI's torchaudio wheels are CUDA builds that do not load beside the CPU torch; "
                  "espnet2.tasks.abs_task and s3prl import it on paths lst never calls",
    "g2p_en": "g2p_en downloads nltk data when imported; English phoneme tokenizers are not part of lst",
    "ci_sdr": "speech-enhancement losses are not part of lst (its PyPI release has a git URL "
              "dependency pip refuses)",
}
# What each espnet import that lst performs needs (espnet 202511; see the module docstring).
ABS_TASK_PLACEHOLDERS = ("torchaudio",)
ASR_TASK_PLACEHOLDERS = ("torchaudio", "g2p_en")
ASR_INFERENCE_PLACEHOLDERS = ("torchaudio", "g2p_en", "ci_sdr")
SSL_TASK_PLACEHOLDERS = ("torchaudio", "g2p_en")  # espnet2.bin.ssl_train (HuBERT training)
MT_TASK_PLACEHOLDERS = ("torchaudio", "g2p_en")  # espnet2.bin.mt_train / mt_inference (discrete-unit ASR)
LM_TASK_PLACEHOLDERS = ("torchaudio", "g2p_en")  # espnet2.bin.lm_train (the ASR's shallow-fusion LM)
S3PRL_PLACEHOLDERS = ("torchaudio",)  # s3prl.upstream.*.hubconf, through s3prl.util.pseudo_data

log = logging.getLogger(__name__)


def missing_error(qualname: str) -> ImportError:
    root = qualname.split(".")[0]
    return ImportError(
        f"{qualname}: {root} is not installed in this lst environment "
        f"({PLACEHOLDER_REASONS[root]}; see README 'Install'). Install it to use this espnet feature.",
        name=root,
    )


class _MissingAttribute:
    """Stands for ``from pkg import name``; calling it raises the clear ImportError."""

    def __init__(self, qualname: str):
        self._qualname = qualname

    def __call__(self, *args, **kwargs):
        raise missing_error(self._qualname)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _MissingAttribute(f"{self._qualname}.{name}")

    def __repr__(self):
        return f"<lst placeholder {self._qualname}>"


class PlaceholderModule(types.ModuleType):
    """A module whose every attribute is a :class:`_MissingAttribute`."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _MissingAttribute(f"{self.__name__}.{name}")


class _PlaceholderLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = PlaceholderModule(spec.name)
        module.__path__ = []  # a package, so ``import pkg.sub.mod`` resolves through the finder
        return module

    def exec_module(self, module):
        pass


class _PlaceholderFinder(importlib.abc.MetaPathFinder):
    """Answers for the named packages (and their submodules) only."""

    def __init__(self, roots: Iterable[str]):
        self.roots = frozenset(roots)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, _PlaceholderLoader(), is_package=True)
        return None


def _drop_modules(root: str, placeholders_only: bool) -> None:
    for key in [k for k in sys.modules if k == root or k.startswith(root + ".")]:
        if not placeholders_only or isinstance(sys.modules[key], PlaceholderModule):
            del sys.modules[key]


def _installed_but_broken(name: str) -> bool:
    """True when ``name`` is on the path but importing it fails (e.g. a CUDA torchaudio)."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return False
    try:
        importlib.import_module(name)
        return False
    except (ImportError, OSError) as e:
        log.info("%s is installed but does not import (%s); a placeholder stands in for it", name, e)
        _drop_modules(name, placeholders_only=False)  # a half-loaded package must not linger
        return True


@contextlib.contextmanager
def espnet_placeholders(names: Iterable[str]) -> Iterator[List[str]]:
    """For the duration of the block, let ``import <name>`` succeed with a placeholder for
    each of ``names`` that is not installed (see the module docstring). Yields the list of
    names that were actually imported as placeholders (filled in on exit)."""
    names = tuple(names)
    unknown = [n for n in names if n not in PLACEHOLDER_REASONS]
    if unknown:
        raise ValueError(f"no placeholder is allowed for {unknown} (allowed: {sorted(PLACEHOLDER_REASONS)})")
    broken = [n for n in names if _installed_but_broken(n)]
    absent = [n for n in names if n not in broken]
    finders = []
    if broken:
        finders.append(_PlaceholderFinder(broken))
        sys.meta_path.insert(0, finders[-1])
    if absent:
        finders.append(_PlaceholderFinder(absent))
        sys.meta_path.append(finders[-1])
    used: List[str] = []
    try:
        yield used
    finally:
        for finder in finders:
            sys.meta_path.remove(finder)
        for name in names:
            if isinstance(sys.modules.get(name), PlaceholderModule):
                used.append(name)
            _drop_modules(name, placeholders_only=True)
        if used:
            log.debug("placeholders used during this espnet import: %s", used)
