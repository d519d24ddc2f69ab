"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakglass.devchain import Anvil
from breakglass.errors import DevchainError


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    """A fresh anvil chain per test module.

    Fails (never skips) when anvil cannot start: a missing chain must be seen in CI.
    """
    try:
        chain = Anvil.start()
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test module: {exc}", pytrace=False)
    with chain:
        yield chain
