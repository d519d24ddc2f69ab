"""Storage errors do not kill the monitor (finding 7 of the hardening issue): PostgreSQL
connections terminated mid-run, a SQLite file locked by another writer; and a second
monitor on the same database for the same chain is refused with a message."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.events import AlertRaised, Event
from breakglass.ingest.events import BlockAdded
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_monitor

_spec = importlib.util.spec_from_file_location(
    "store_fixtures_storage_errors", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_store_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _store_fixtures
_spec.loader.exec_module(_store_fixtures)
postgres_url = _store_fixtures.postgres_url

_spec = importlib.util.spec_from_file_location(
    "detect_fixtures_storage_errors", Path(__file__).parents[1] / "detect" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_detect_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _detect_fixtures
_spec.loader.exec_module(_detect_fixtures)
make_token = _detect_fixtures.make_token

ROOT = Path(__file__).parents[2]


def _plan_file(tmp_path: Path, anvil: Anvil, token: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}
        contracts:
          token: {{chain: local, address: "{token}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        """)
    )
    return path


def _height(anvil: Anvil) -> int:
    return int(anvil.rpc("eth_blockNumber", []), 16)


async def _until(check: Callable[[], bool], task: asyncio.Task[None], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if task.done():
            task.result()  # the monitor died: raise what killed it
            raise AssertionError("the monitor stopped")
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


def _checkpoint(sessions: sessionmaker[Session]) -> int:
    try:
        with sessions() as session:
            found = store.get_checkpoint(session, chain="local")
            return found.block_number if found is not None else -1
    except Exception:
        return -1  # the database is what the test breaks


async def _outage(
    *,
    anvil: Anvil,
    token: Any,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    break_storage: Callable[[], object],
    mend_storage: Callable[[], object],
    after: Callable[[], object] = lambda: None,
) -> tuple[list[AlertRaised], list[int]]:
    plan = load_plan(_plan_file(tmp_path, anvil, token.address))
    seen: list[AlertRaised] = []
    blocks: list[int] = []
    stop = asyncio.Event()

    def on_block(block: BlockAdded, _findings: int) -> None:
        blocks.append(block.number)

    async def heard(event: Event) -> None:
        assert isinstance(event, AlertRaised)
        seen.append(event)

    app = build_monitor(plan, chain="local", sessions=sessions, respond=False, incidents=False)
    app.bus.subscribe("test.alerts", [AlertRaised], heard)
    task = asyncio.create_task(app.run(stop, on_block=on_block, poll_interval=0.05))
    try:
        start = _height(anvil)
        await _until(lambda: _checkpoint(sessions) >= start, task)
        await asyncio.to_thread(break_storage)
        receipt = await asyncio.to_thread(token.call, anvil.accounts[0], "pause")
        paused_at = int(receipt["blockNumber"], 16)
        for _ in range(3):
            anvil.rpc("evm_mine", [])
        # Detection goes on while storage is down: the blocks after the pause are evaluated.
        await _until(lambda: max(blocks, default=0) >= paused_at + 3, task)
        await asyncio.to_thread(mend_storage)
        tip = _height(anvil)

        def stored() -> bool:
            anvil.rpc("evm_mine", [])  # storage is retried as blocks come, after its backoff
            return _checkpoint(sessions) >= tip and bool(seen)

        await _until(stored, task)
        assert not task.done()
        await asyncio.to_thread(after)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return seen, blocks


@pytest.mark.postgres
@pytest.mark.chain
def test_terminated_postgres_connections_do_not_kill_the_monitor(
    anvil: Anvil, make_token: Any, postgres_url: str, tmp_path: Path
) -> None:
    store.upgrade(postgres_url)
    engine = store.make_engine(postgres_url)
    sessions = store.session_factory(engine)
    server = make_url(postgres_url).set(drivername="postgresql")
    terminated: list[int] = []
    probes: list[str] = []

    def terminate() -> None:
        with psycopg.connect(
            server.render_as_string(hide_password=False), autocommit=True
        ) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            terminated.append(len(rows))

    try:
        seen, _ = asyncio.run(
            _outage(
                anvil=anvil,
                token=make_token(),
                tmp_path=tmp_path,
                sessions=sessions,
                break_storage=terminate,
                mend_storage=lambda: None,
                after=lambda: probes.append(_probe_lease(postgres_url)),
            )
        )
    finally:
        engine.dispose()
    assert terminated and terminated[0] >= 1
    assert [alert.rule for alert in seen] == ["token-paused"]
    # The terminated backends held the monitor's claim too; it was taken again.
    assert probes[0].startswith("refused: another monitor is running"), probes


@pytest.mark.chain
def test_a_locked_sqlite_file_does_not_kill_the_monitor(
    anvil: Anvil, make_token: Any, tmp_path: Path
) -> None:
    database = tmp_path / "db" / "breakglass.db"
    url = f"sqlite:///{database.as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    other = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)

    try:
        seen, _ = asyncio.run(
            _outage(
                anvil=anvil,
                token=make_token(),
                tmp_path=tmp_path,
                sessions=sessions,
                break_storage=lambda: other.execute("BEGIN EXCLUSIVE"),
                mend_storage=lambda: other.execute("COMMIT"),
            )
        )
    finally:
        other.close()
        engine.dispose()
    assert [alert.rule for alert in seen] == ["token-paused"]
    with sessions() as session:
        assert [a.rule for a in store.list_alerts(session)] == ["token-paused"]


def _monitor_cli(plan: Path, home: Path, url: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    environ |= {"BREAKGLASS_DATABASE_URL": url, "BREAKGLASS_HOME": str(home)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "breakglass",
            "monitor",
            str(plan),
            "--poll-interval",
            "0.1",
        ],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def first_monitor(anvil: Anvil, make_token: Any, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A monitor running in its own process on a SQLite database, once it has a checkpoint."""
    plan = _plan_file(tmp_path, anvil, make_token().address)
    url = f"sqlite:///{(tmp_path / 'db' / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    process = _monitor_cli(plan, tmp_path, url)
    try:
        deadline = time.monotonic() + 60
        while _checkpoint(sessions) < 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the first monitor did not start"
            time.sleep(0.1)
        yield plan, url
    finally:
        process.terminate()
        process.communicate(timeout=20)
        engine.dispose()


@pytest.mark.e2e
@pytest.mark.chain
def test_a_second_monitor_on_the_same_database_is_refused(
    first_monitor: tuple[Path, str], tmp_path: Path
) -> None:
    plan, url = first_monitor
    second = _monitor_cli(plan, tmp_path, url)
    try:
        _, stderr = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 2, stderr
    assert "another monitor is running on this database for chain 'local'" in " ".join(
        stderr.split()
    )
    assert "Traceback" not in stderr


def _probe_lease(url: str) -> str:
    """Whether another process may take chain 'local' on ``url``: "taken" or "refused: …"."""
    probe = textwrap.dedent(f"""
        from breakglass import store
        from breakglass.store.lease import AnotherMonitorError, MonitorLease
        engine = store.make_engine({url!r})
        try:
            MonitorLease.acquire(engine, "local")
        except AnotherMonitorError as exc:
            print("refused:", exc)
        else:
            print("taken")
    """)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


@pytest.mark.postgres
def test_the_postgres_lease_refuses_another_process(postgres_url: str) -> None:
    from breakglass.store.lease import MonitorLease  # noqa: PLC0415

    engine = store.make_engine(postgres_url)
    lease = MonitorLease.acquire(engine, "local")
    try:
        held = _probe_lease(postgres_url)
        lease.release()
        free = _probe_lease(postgres_url)
    finally:
        lease.release()
        engine.dispose()
    assert held.startswith("refused: another monitor is running"), held
    assert free == "taken"
