"""Fixtures for the notification tests: a real HTTP receiver on loopback, a database, a
plan builder and a clock the tests move by hand."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.plan.models.plan import Plan

TOKEN = "tok-9f8e7d6c5b4a"
KEY = "whsec-0123456789abcdef"
ENVIRON = {"HOOK_TOKEN": TOKEN, "HOOK_KEY": KEY}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers HTTP 500 to the first ``fail_first`` (or all, if -1)."""

    port: int = 0
    fail_first: int = 0
    requests: list[Request] = field(default_factory=list)
    calls: int = 0

    def url(self, path: str, scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path.split("?")[0] for r in self.requests]


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Tests and CLI runs reconfigure structlog onto streams that close; undo it."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.calls += 1
            failing = state.fail_first < 0 or state.calls <= state.fail_first
            if not failing:
                state.requests.append(Request(self.path, dict(self.headers.items()), body))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# The store tests own the PostgreSQL fixture (a throwaway database per module); reuse it.
_spec = importlib.util.spec_from_file_location(
    "store_fixtures_notify", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, or the module's PostgreSQL database with
    the previous test's rows truncated and its id sequences restarted."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'breakglass.db'}"
        store.upgrade(url)
        return url
    url = request.getfixturevalue("postgres_url")
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in store.Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return str(url)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = store.make_engine(db_url)
    yield store.session_factory(engine)
    engine.dispose()


class Clock:
    """A clock that only moves when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def environ() -> dict[str, str]:
    """The environment the plan's ``${HOOK_TOKEN}`` and ``${HOOK_KEY}`` come from."""
    return dict(ENVIRON)


def _make_plan(receiver: Receiver, **channels: Any) -> Plan:
    return Plan.model_validate(
        {
            "protocol": "Acme Lending",
            "people": {
                "alice": {"name": "Alice", "page": receiver.url("/page/alice/${HOOK_TOKEN}")},
                "bob": {"name": "Bob", "page": receiver.url("/page/bob/${HOOK_TOKEN}")},
                "carol": {"name": "Carol"},
            },
            "roles": {
                "pauser": {"members": ["alice", "bob"], "escalate_after": "5m"},
                "comms": {"members": ["carol", "alice"], "escalate_after": "1m"},
            },
            "channels": channels,
        }
    )


@pytest.fixture
def make_plan(receiver: Receiver) -> Any:
    """Acme's plan: pauser role alice → bob (5 min escalation), comms carol (no page URL)
    → alice, and the channels given."""
    return lambda **channels: _make_plan(receiver, **channels)


@pytest.fixture
def signed(receiver: Receiver) -> Any:
    """A signed JSON webhook channel whose URL carries the token by reference."""
    return lambda path="/hook", **extra: _signed(receiver, path, **extra)


def _signed(receiver: Receiver, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": receiver.url(f"{path}/${{HOOK_TOKEN}}"),
        "signing_key": "${HOOK_KEY}",
        **extra,
    }
