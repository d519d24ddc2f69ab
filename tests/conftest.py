"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

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


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults: a test (or a CLI command run in-process)
    that points logging at a captured stream must not leave it for the next test."""
    yield
    structlog.reset_defaults()
