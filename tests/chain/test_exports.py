"""The chain package's public surface is exactly its ``__all__``."""

from __future__ import annotations

import breakglass.chain as chain


def test_all_matches_public_names():
    public = {
        name
        for name, value in vars(chain).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("breakglass.chain")
    }
    assert set(chain.__all__) >= public
    assert all(hasattr(chain, name) for name in chain.__all__)
    assert len(chain.__all__) == len(set(chain.__all__))
