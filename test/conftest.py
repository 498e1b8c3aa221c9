import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LST_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: intra-op threading only adds sync overhead (and is very slow when the
    2-core machine is busy), so model tests run single-threaded."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_token_list():
    """A joint token list with 6 BPE pieces and 10 units."""
    from lst.vocab import build_token_list

    return build_token_list(["<unk>", "▁a", "▁b", "▁the", "▁cat", "s", "▁yes"], n_units=10)


# pytest.ini runs the files on two xdist workers (--dist loadfile --no-loadscope-reorder), which
# take whole files in collection order. xdist's own order (most tests first) sent the recipe
# files (1-6 min each, few tests) last, and one worker ran them alone for minutes while the
# other sat idle; longest first, the short files fill in behind them. Ordered by the
# `--durations` of the fresh-clone CI runs; files not named keep their order after these.
LONGEST_FILES_FIRST = (
    "test_hubert.py",
    "test_recipe_asr_espnet.py",
    "test_recipe_an4_lst1.py",
    "test_recipe_an4.py",
    "test_recipe_ljspeech_phone_units.py",
    "test_recipe_ljspeech.py",
    "test_recipe_mini_an4.py",
    "test_resume.py",
    "test_recipe_tts_scoring.py",
    "test_distributed.py",
    "test_benchmarks.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests stay in order
