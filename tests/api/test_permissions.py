"""Every endpoint declares a permission, and each caller gets exactly what it allows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from breakglass.api.security import permission_of
from breakglass.incidents import service

from .conftest import Api

# method, path template, JSON body, needed access, status when allowed
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str, int]] = [
    ("GET", "/status", None, "public", 200),
    ("GET", "/status.json", None, "public", 200),
    ("GET", "/feed.atom", None, "public", 200),
    ("GET", "/openapi.json", None, "public", 200),
    ("GET", "/api/me", None, "viewer", 200),
    ("GET", "/api/access", None, "admin", 200),
    ("GET", "/api/incidents", None, "viewer", 200),
    ("POST", "/api/incidents", {"title": "drain", "severity": "P1"}, "responder", 201),
    ("GET", "/api/incidents/{incident}", None, "viewer", 200),
    ("POST", "/api/incidents/{incident}/transitions", {"to": "triaged"}, "responder", 200),
    ("POST", "/api/incidents/{incident}/acknowledge", None, "responder", 200),
    ("GET", "/api/incidents/{incident}/timeline", None, "viewer", 200),
    ("GET", "/api/incidents/{incident}/clocks", None, "viewer", 200),
    ("POST", "/api/incidents/{incident}/notes", {"text": "looking"}, "responder", 201),
    ("GET", "/api/incidents/{incident}/tasks", None, "viewer", 200),
    (
        "POST",
        "/api/incidents/{incident}/tasks",
        {"title": "add a monitor", "kind": "detective"},
        "responder",
        201,
    ),
    ("GET", "/api/tasks", None, "viewer", 200),
    ("PATCH", "/api/tasks/{task}", {"status": "done"}, "responder", 200),
    ("GET", "/api/updates", None, "viewer", 200),
    (
        "POST",
        "/api/incidents/{incident}/updates",
        {"status": "investigating", "title": "Looking", "body": "We are on it."},
        "responder",
        201,
    ),
    ("GET", "/api/runs", None, "viewer", 200),
    # No such step: allowed callers get past authorisation to the lookup's 404.
    ("POST", "/api/steps/999999/approve", {"action": "0x0123456789abcdef"}, "responder", 404),
    ("POST", "/api/steps/999999/tick", None, "responder", 404),
    ("GET", "/api/steps/999999/preview", None, "responder", 404),
    (
        "POST",
        "/api/paging/acknowledgements",
        {"event": {"event_type": "incident.acknowledged", "data": {"incident_key": "x"}}},
        "responder",
        400,  # names no breakglass incident
    ),
]
CALLERS = ["none", "bogus", "revoked", "viewer", "responder", "admin"]
RANK = {"viewer": 0, "responder": 1, "admin": 2}


def _expected(needed: str, caller: str, allowed: int) -> int:
    if needed == "public":
        return allowed
    if caller not in RANK:
        return 401
    return allowed if RANK[caller] >= RANK[needed] else 403


def test_every_route_declares_a_permission(api: Api) -> None:
    declared = {}
    for route in api.app.routes:
        assert isinstance(route, APIRoute), f"{route!r} is not an APIRoute"
        permission = permission_of(route)
        assert permission is not None, f"{route.path} declares no permission"
        if route.endpoint.__module__.startswith("breakglass.web."):
            continue  # the dashboard's pages: tests/web/test_pages.py covers each of them
        for method in route.methods or ():
            declared[(method, route.path)] = permission.name
    # ... and the matrix below covers each of them with the level it declares.
    tested = {
        (method, path.replace("{incident}", "{incident_id}").replace("{task}", "{task_id}")): need
        for method, path, _, need, _ in ENDPOINTS
    }
    for verb in ("approve", "tick"):
        tested[("POST", f"/api/steps/{{step_id}}/{verb}")] = tested.pop(
            ("POST", f"/api/steps/999999/{verb}")
        )
    tested[("GET", "/api/steps/{step_id}/preview")] = tested.pop(
        ("GET", "/api/steps/999999/preview")
    )
    assert tested == declared


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "body", "needed", "allowed"),
    ENDPOINTS,
    ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS],
)
def test_authorisation_matrix(
    api: Api,
    client: TestClient,
    caller: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    needed: str,
    allowed: int,
) -> None:
    now = datetime.now(UTC)
    with api.sessions() as session, session.begin():
        incident = service.open_incident(
            session,
            api.loaded.plan,
            title="fresh",
            kind="manual",
            severity="P2",
            chains=[],
            contracts=[],
            detected_at=now,
        )
        task = service.add_task(
            session, incident.id, "t", owner=None, due_at=None, kind="corrective", actor="test"
        )
    url = path.format(incident=incident.id, task=task.id)
    response = client.request(method, url, json=body, headers=api.headers(caller))
    expected = _expected(needed, caller, allowed)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert isinstance(response.json()["detail"], str)
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_me_names_the_caller_and_level(api: Api, client: TestClient) -> None:
    for caller, person in (("viewer", "watcher"), ("responder", "pauser"), ("admin", "lead")):
        body = client.get("/api/me", headers=api.headers(caller)).json()
        assert body["person"] == person
        assert body["access"] == caller


def test_access_lists_people_without_token_hashes(api: Api, client: TestClient) -> None:
    response = client.get("/api/access", headers=api.headers("admin"))
    rows = {row["person"]: row for row in response.json()}
    assert rows["former"] == {
        "person": "former",
        "name": "Fred",
        "access": "responder",
        "live_tokens": 0,
    }
    assert rows["lead"]["access"] == "admin"
    for token in api.tokens.values():
        assert token not in response.text
    assert "sha256" not in response.text
