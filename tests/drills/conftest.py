"""Fixtures for the drill tests: a migrated scratch database and a user plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store

USER_PLAN = """\
version: 1
protocol: Acme Lending
people:
  alice: {name: Alice}
  bob: {name: Bob}
roles:
  incident_lead: {members: [alice]}
  pauser: {members: [bob]}
chains:
  mainnet:
    chain_id: 1
    rpc: [{url: "http://127.0.0.1:9"}]
scenarios:
  vault-drain: {description: The vault is drained through a missing access check.}
drills:
  schedule:
    - {scenario: vault-drain, interval: 30d}
"""


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{(tmp_path / 'team.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    yield store.session_factory(engine)
    engine.dispose()


@pytest.fixture
def user_plan(tmp_path: Path) -> Path:
    path = tmp_path / "breakglass.yaml"
    path.write_text(USER_PLAN, encoding="utf-8")
    return path
