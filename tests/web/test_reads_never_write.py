"""Reading never writes: every GET of the dashboard and of the API, signed in as the admin,
leaves every table as it was. The timeline is kept by incidents' consumer of respond's
events, never imported by a page view."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.events import InProcessBus, OutboxRelay
from breakglass.incidents.response_log import subscribe

from .conftest import Dashboard
from .test_pages import sign_in

_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


def _counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in store.Base.metadata.sorted_tables
        }


def _get_paths(dashboard: Dashboard) -> list[str]:
    """Every GET route of the app, its path parameters filled with the seeded ids."""
    values = {
        "incident_id": str(dashboard.incident_id),
        "step_id": str(dashboard.step_id),
        "name": "dashboard.css",
    }
    paths: list[str] = []
    for route in dashboard.app.routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "GET" not in methods or not path:
            continue
        if not isinstance(route, APIRoute) and "{" in path:
            continue
        paths.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path))
    return paths


def test_no_get_writes_to_the_database(dashboard: Dashboard, client: TestClient) -> None:
    # The monitor's relay has delivered respond's events: the timeline holds the run.
    bus = InProcessBus()
    subscribe(bus, dashboard.sessions)
    assert asyncio.run(OutboxRelay(dashboard.sessions, bus).drain()) > 0
    sign_in(client, dashboard.tokens["admin"])
    bearer = {"Authorization": f"Bearer {dashboard.tokens['admin']}"}

    engine = dashboard.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    writes: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _WRITES.match(statement):
            writes.append(statement.split("\n", maxsplit=1)[0][:120])

    before = _counts(dashboard.sessions)
    paths = _get_paths(dashboard)
    page = f"/incidents/{dashboard.incident_id}"
    assert {page, f"{page}/timeline", f"/api{page}/timeline", "/api/runs"} <= set(paths), paths
    event.listen(engine, "before_cursor_execute", spy)
    try:
        answers = {path: client.get(path, headers=bearer).status_code for path in paths}
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert all(code < 500 for code in answers.values()), answers
    assert sum(code == 200 for code in answers.values()) >= len(paths) - 2, answers
    assert writes == [], writes
    assert _counts(dashboard.sessions) == before
