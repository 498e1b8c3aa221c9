import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LST_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture
def tiny_token_list():
    """A joint token list with 6 BPE pieces and 10 units."""
    from lst.vocab import build_token_list

    return build_token_list(["<unk>", "▁a", "▁b", "▁the", "▁cat", "s", "▁yes"], n_units=10)
