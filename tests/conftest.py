"""Shared pytest fixtures, and the test tiers (see tests/README.md).

Every test gets one or more tier markers: ``chain`` (anvil), ``postgres``, ``nats``,
``browser`` and ``e2e`` (the CLI in a subprocess) from the fixtures it uses or from an
explicit mark; every other test is ``unit`` and may start no chain: while it runs,
``BREAKGLASS_ANVIL_PATH`` names a binary that does not exist, so an unmarked test that
starts anvil, in process or through a CLI subprocess, fails and says how to mark it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

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


@pytest.fixture(autouse=True)
def _no_known_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts knowing no token's symbol: every module's anvil deploys at the same
    addresses on a chain named alike, so one test's token must not name another's."""
    from breakglass.analysis import assets  # noqa: PLC0415

    monkeypatch.setattr(assets, "_CACHE", {})
    monkeypatch.setattr(assets, "_MISSED", {})


TIERS = ("unit", "chain", "postgres", "nats", "browser", "e2e")
"""The tier markers, registered in pyproject.toml."""

_FIXTURE_TIERS = {
    "anvil": "chain",
    "postgres_url": "postgres",
    "nats_server": "nats",
    "nats_url": "nats",
    "browser": "browser",
    "page": "browser",
    "doctor_cli": "e2e",
    "cli": "e2e",
}
"""Fixtures that need a tier's service; ``item.fixturenames`` holds every fixture a test
uses, directly or through other fixtures."""

NO_ANVIL_IN_UNIT_TESTS = "/unit-tests-start-no-anvil/mark-the-test-chain-see-tests-README"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the tiers of the fixtures it uses, or ``unit``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, tier in _FIXTURE_TIERS.items():
            if fixture in fixtures:
                item.add_marker(tier)
        if not any(item.get_closest_marker(tier) for tier in TIERS[1:]):
            item.add_marker("unit")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_chain(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("unit") is not None:
        monkeypatch.setenv("BREAKGLASS_ANVIL_PATH", NO_ANVIL_IN_UNIT_TESTS)


class Cli(Protocol):
    """Runs ``python -m breakglass ARGS`` in a subprocess (see the ``cli`` fixture)."""

    def __call__(
        self,
        *args: str | Path,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        stdin: str = "",
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli() -> Cli:
    """The CLI as a person runs it: a fresh process, plain output 200 columns wide. ``env``
    adds variables to this process's environment; a value of None removes one. A test that
    uses it is ``e2e``."""

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        stdin: str = "",
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        for name, value in (env or {}).items():
            if value is None:
                full.pop(name, None)
            else:
                full[name] = value
        return subprocess.run(
            [sys.executable, "-m", "breakglass", *map(str, args)],
            capture_output=True,
            text=True,
            env=full,
            cwd=cwd,
            input=stdin,
            timeout=timeout,
            check=False,
        )

    return run
