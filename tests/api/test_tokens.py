"""Tokens: created by the CLI and printed once, stored only as SHA-256, revoked by the CLI;
access levels come from the plan."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from breakglass.api import create_app
from breakglass.api.tokens import access_of
from breakglass.plan.models import Access
from breakglass.store.models import ApiToken

from .conftest import Api, build_api


def _cli(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    url = str(api.sessions.kw["bind"].url)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "token", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e
def test_create_use_revoke(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    plan = str(api.loaded.file)
    created = _cli(api, "create", "watcher", "--plan", plan)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert len(token) >= 43 and "\n" not in token
    assert "viewer" in created.stderr and "not shown again" in created.stderr

    with api.sessions() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.person == "watcher")).all()
    digests = {row.token_sha256 for row in rows}
    assert hashlib.sha256(token.encode()).hexdigest() in digests
    assert all(token not in str(vars(row)) for row in rows)

    client = TestClient(api.app)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).json()["person"] == "watcher"

    revoked = _cli(api, "revoke", "watcher")
    assert revoked.returncode == 0
    assert "revoked 2 tokens of watcher" in revoked.stderr
    assert client.get("/api/me", headers=headers).status_code == 401


@pytest.mark.e2e
def test_unknown_person_is_refused(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    result = _cli(api, "create", "nobody", "--plan", str(api.loaded.file))
    assert result.returncode == 2
    assert "no person 'nobody'" in result.stderr
    assert "Traceback" not in result.stderr


def test_access_levels_from_the_plan(api: Api) -> None:
    plan = api.loaded.plan
    assert access_of(plan, "lead") is Access.ADMIN  # incident_lead
    assert access_of(plan, "pauser") is Access.RESPONDER  # a role that handles pause
    assert access_of(plan, "watcher") is Access.VIEWER  # scribe handles nothing
    explicit = plan.model_copy(
        update={
            "people": {
                **plan.people,
                "watcher": plan.people["watcher"].model_copy(update={"access": Access.ADMIN}),
            }
        }
    )
    assert access_of(explicit, "watcher") is Access.ADMIN


def test_person_removed_from_plan_is_locked_out(api: Api) -> None:
    plan = api.loaded.plan
    smaller = plan.model_copy(
        update={"people": {k: v for k, v in plan.people.items() if k != "lead"}}
    )
    loaded = type(api.loaded)(smaller, api.loaded.file, api.loaded.sha256, api.loaded.document)
    client = TestClient(create_app(loaded, api.sessions))
    assert client.get("/api/me", headers=api.headers("admin")).status_code == 401
    assert client.get("/api/me", headers=api.headers("viewer")).status_code == 200
