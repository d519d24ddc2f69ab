"""A slowloris webhook (findings 8 and 20 of the hardening issue): one receiver that answers
one byte at a time must not hold back another channel or an escalation, and ``notify test``
sends only its own message."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from breakglass.cli.app import app
from breakglass.notify import DeliveryStatus, Notifier
from breakglass.store.models import Delivery

# The notification tests own the loopback receiver, the database and the plan builder.
_spec = importlib.util.spec_from_file_location(
    "notify_fixtures_hardening", Path(__file__).parents[1] / "notify" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
receiver = _fixtures.receiver
_reset_logging = _fixtures._reset_logging
environ = _fixtures.environ
make_plan = _fixtures.make_plan
signed = _fixtures.signed
postgres_url = _fixtures.postgres_url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    from breakglass import store  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> Iterator[Any]:
    from breakglass import store  # noqa: PLC0415

    engine = store.make_engine(db_url)
    yield store.session_factory(engine)
    engine.dispose()


@pytest.fixture
def slowloris() -> Iterator[int]:
    """A receiver that reads the request, then answers one byte every 2 s, forever."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.5)
            try:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 100:
                    conn.sendall(bytes([byte]))
                    if done.wait(2):
                        return
            except OSError:
                return

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        server.close()


def _slow(port: int, signed_hook: bool) -> dict[str, Any]:
    url = f"json://127.0.0.1:{port}/slow"
    return {"url": url, "signing_key": "${HOOK_KEY}"} if signed_hook else {"url": url}


@pytest.mark.parametrize("signed_hook", [True, False], ids=["signed", "apprise"])
def test_slow_channel_does_not_hold_back_another(
    receiver: Any,
    slowloris: int,
    sessions: Any,
    make_plan: Any,
    signed: Any,
    environ: Any,
    signed_hook: bool,
) -> None:
    plan = make_plan(slow=_slow(slowloris, signed_hook), fast=signed())
    notifier = Notifier(plan, sessions, environ=environ, deadline_s=3)

    async def scenario() -> tuple[float, float]:
        stop = asyncio.Event()
        task = asyncio.create_task(notifier.run(stop, interval=0.1))
        notifier.notify("test", {"channel": "slow"}, channels=["slow"])
        await asyncio.sleep(0.5)  # the slow channel's attempt is in flight
        started = time.monotonic()
        notifier.notify("test", {"channel": "fast"}, channels=["fast"])
        page = notifier.page("pauser", "Pause the pool")
        while len(receiver.requests) < 2 and time.monotonic() - started < 20:
            await asyncio.sleep(0.05)
        reached = time.monotonic() - started
        while time.monotonic() - started < 20:
            with sessions() as session:
                row = session.scalars(select(Delivery).where(Delivery.channel == "slow")).one()
            if row.status != DeliveryStatus.PENDING:
                break
            await asyncio.sleep(0.1)
        given_up = time.monotonic() - started
        stop.set()
        await task
        assert page
        return reached, given_up

    reached, given_up = asyncio.run(scenario())
    assert sorted(receiver.paths()) == ["/hook/tok-9f8e7d6c5b4a", "/page/alice/tok-9f8e7d6c5b4a"]
    assert reached < 2.0, f"the fast channel and the page waited {reached:.1f} s"
    assert given_up < 6.0, f"the slow attempt ran {given_up:.1f} s past its deadline"
    with sessions() as session:
        row = session.scalars(select(Delivery).where(Delivery.channel == "slow")).one()
    assert row.status == DeliveryStatus.RETRYING
    assert "no answer within 3 s" in (row.last_error or "")


def test_deliver_due_has_an_overall_deadline(
    receiver: Any, slowloris: int, sessions: Any, make_plan: Any, signed: Any, environ: Any
) -> None:
    notifier = Notifier(
        make_plan(slow=_slow(slowloris, True), fast=signed()),
        sessions,
        environ=environ,
        deadline_s=2,
    )
    notifier.notify("test", {"channel": "x"}, channels=["slow", "fast"])
    started = time.monotonic()
    assert asyncio.run(notifier.deliver_due()) == 1
    assert time.monotonic() - started < 5
    assert receiver.paths() == ["/hook/tok-9f8e7d6c5b4a"]


def test_notify_test_sends_only_its_own_message(
    receiver: Any, db_url: str, tmp_path: Path, monkeypatch: Any, environ: Any, signed: Any
) -> None:
    plan = {
        "protocol": "Acme Lending",
        "channels": {"hook": signed(), "other": signed("/other")},
    }
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", db_url)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    from breakglass import store  # noqa: PLC0415
    from breakglass.plan.models.plan import Plan  # noqa: PLC0415

    engine = store.make_engine(db_url)
    try:
        backlog = Notifier(Plan.model_validate(plan), store.session_factory(engine))
        backlog.notify("test", {"channel": "other"}, channels=["other"])
    finally:
        engine.dispose()

    result = CliRunner().invoke(app, ["notify", "test", "hook", "-p", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert receiver.paths() == ["/hook/tok-9f8e7d6c5b4a"]
