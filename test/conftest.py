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
