"""An API over a fresh SQLite database and a small plan with one person per access level."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.api.tokens import create_token, revoke_tokens
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.server import create_app

PLAN = """
protocol: Acme <Lending> & "Co"
people:
  lead: {name: Lea}
  pauser: {name: Paul}
  watcher: {name: Wanda}
  former: {name: Fred}
roles:
  incident_lead: [lead]
  pauser: {members: [pauser, former], handles: [pause]}
  scribe: [watcher]
regulatory:
  regimes: [gdpr, dora]
communication:
  spokesperson: pauser
"""


@dataclass(frozen=True)
class Api:
    """The app under test, its database and a token per kind of caller."""

    app: FastAPI
    loaded: LoadedPlan
    sessions: sessionmaker[Session]
    tokens: dict[str, str]

    def headers(self, caller: str) -> dict[str, str]:
        """Headers of ``caller``: a role name, ``revoked``, ``bogus`` or ``none``."""
        if caller == "none":
            return {}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}


def build_api(directory: Path, url: str | None = None) -> Api:
    """Plan, database (SQLite unless ``url``), app and tokens for viewer, responder, admin
    and a revoked one."""
    plan_file = directory / "breakglass.yaml"
    plan_file.write_text(PLAN)
    loaded = load_plan(plan_file)
    url = url or f"sqlite:///{directory / 'api.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        tokens = {
            "viewer": create_token(session, loaded.plan, "watcher"),
            "responder": create_token(session, loaded.plan, "pauser"),
            "admin": create_token(session, loaded.plan, "lead"),
            "revoked": create_token(session, loaded.plan, "former"),
        }
        revoke_tokens(session, "former", now=datetime.now(UTC))
    tokens["bogus"] = "not-a-token"
    return Api(create_app(loaded, sessions), loaded, sessions, tokens)


# The store tests own the PostgreSQL fixture (a throwaway database per module); reuse it.
_spec = importlib.util.spec_from_file_location(
    "store_fixtures_api", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    """The same API on SQLite and on a throwaway PostgreSQL database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return build_api(tmp_path_factory.mktemp("api"), url)


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(api.app, raise_server_exceptions=False) as test_client:
        yield test_client
