"""Finding 14: the dashboard cookie was the raw API token and signing out revoked nothing.
Now it is a random session id held server-side, ended at sign-out and after its expiry."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from breakglass.api.tokens import revoke_tokens
from breakglass.store.models import WebSession
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import SESSION_TTL, session_caller, start_session

_spec = importlib.util.spec_from_file_location(
    "api_fixtures_sessions", Path(__file__).parents[1] / "api" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
build_api = _fixtures.build_api


def _sign_in(client: TestClient, token: str) -> str:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post(
        "/login", data={"token": token, "csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client.cookies[SESSION_COOKIE]


def test_the_cookie_is_not_the_token_and_signing_out_kills_a_copied_cookie(
    tmp_path: Path,
) -> None:
    api = build_api(tmp_path)
    token = api.tokens["responder"]
    with TestClient(api.app) as client:
        session_id = _sign_in(client, token)
        assert token not in session_id and session_id != token
        assert client.get("/incidents", follow_redirects=False).status_code == 200
        # The raw token, which the cookie used to hold, is no dashboard session.
        with TestClient(api.app) as thief:
            thief.cookies.set(SESSION_COOKIE, token)
            assert thief.get("/incidents", follow_redirects=False).status_code == 303
        with TestClient(api.app) as thief:
            thief.cookies.set(SESSION_COOKIE, session_id)
            assert thief.get("/incidents", follow_redirects=False).status_code == 200
            out = client.post("/logout", data={"csrf_token": csrf_for(session_id)})
            assert out.url.path == "/login"
            # the copy taken before sign-out is dead too
            assert thief.get("/incidents", follow_redirects=False).status_code == 303
        # the API token itself stays valid for the API
        assert client.get("/api/me", headers=api.headers("responder")).status_code == 200


def test_sessions_expire_and_die_with_their_token(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    plan = api.loaded.plan
    now = datetime.now(UTC)
    with api.sessions() as session, session.begin():
        stale = start_session(
            session, plan=plan, token=api.tokens["admin"], now=now - SESSION_TTL - timedelta(1)
        )
        live = start_session(session, plan=plan, token=api.tokens["viewer"], now=now)
        assert start_session(session, plan=plan, token=api.tokens["revoked"]) is None
    assert stale is not None and live is not None
    with api.sessions() as session:
        assert session_caller(session, plan=plan, session_id=stale[0]) is None
        assert session_caller(session, plan=plan, session_id=live[0]) is not None
    with TestClient(api.app) as client:
        client.cookies.set(SESSION_COOKIE, stale[0])
        assert client.get("/incidents", follow_redirects=False).status_code == 303
    with api.sessions() as session, session.begin():
        revoke_tokens(session, "watcher")
    with api.sessions() as session:
        assert session_caller(session, plan=plan, session_id=live[0]) is None


def test_the_session_table_holds_no_usable_secret(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    with TestClient(api.app) as client:
        session_id = _sign_in(client, api.tokens["viewer"])
    with api.sessions() as session:
        rows = session.execute(select(WebSession))
        stored = [(r.person, r.session_sha256, str(r.expires_at)) for (r,) in rows]
    assert stored and not any(session_id in v for row in stored for v in row)
