"""``run_monitor`` and ``breakglass monitor`` against a real anvil chain and token."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.detect.monitor import UnknownMonitorChain, run_monitor
from breakglass.devchain import Anvil
from breakglass.events import AlertRaised, Event
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_monitor

pytestmark = pytest.mark.chain

ROOT = Path(__file__).parents[2]


def write_plan(tmp_path: Path, anvil: Anvil, token: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local: {{chain_id: 31337, rpc: [{{url: "{anvil.http_url}", ws: "{anvil.ws_url}"}}]}}
        contracts:
          token: {{chain: local, address: "{token}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        """)
    )
    return path


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{(tmp_path / 'db' / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    yield store.session_factory(engine)
    engine.dispose()


async def until(
    check: Callable[[], bool], timeout: float = 15.0, task: asyncio.Task[None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if task is not None and task.done():
            task.result()  # the monitor stopped: raise what stopped it
            raise AssertionError("the monitor returned before the check held")
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def checkpoint_at(sessions: sessionmaker[Session], number: int) -> Callable[[], bool]:
    def check() -> bool:
        with sessions() as session:
            found = store.get_checkpoint(session, chain="local")
            return found is not None and found.block_number >= number

    return check


def alerts(sessions: sessionmaker[Session]) -> list[store.AlertRecord]:
    with sessions() as session:
        return store.list_alerts(session)


def height(anvil: Anvil) -> int:
    return int(anvil.rpc("eth_blockNumber", []), 16)


def test_pausing_the_token_stores_one_alert_and_reruns_add_none(
    anvil: Anvil, make_token: Any, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    token = make_token()
    plan = load_plan(write_plan(tmp_path, anvil, token.address))
    seen: list[AlertRaised] = []

    async def heard(event: Event) -> None:
        assert isinstance(event, AlertRaised)
        seen.append(event)

    async def monitored(action: Callable[[], int]) -> None:
        """Run the monitor until it has delivered the block ``action`` returns."""
        stop = asyncio.Event()
        app = build_monitor(plan, chain="local", sessions=sessions, respond=False, incidents=False)
        app.bus.subscribe("test.alerts", [AlertRaised], heard)
        task = asyncio.create_task(app.run(stop, poll_interval=0.05))
        await until(checkpoint_at(sessions, height(anvil)), task=task)
        await until(checkpoint_at(sessions, await asyncio.to_thread(action)), task=task)
        stop.set()
        await asyncio.wait_for(task, 5)

    admin = anvil.accounts[0]

    def pause() -> int:
        return int(token.call(admin, "pause")["blockNumber"], 16)

    def mine() -> int:
        anvil.rpc("evm_mine", [])
        return height(anvil)

    asyncio.run(monitored(pause))
    (alert,) = seen
    found = alert
    assert (found.rule, found.kind, found.severity) == ("token-paused", "paused", "critical")
    assert found.addresses[0] == token.address
    paused_at = found.block_number
    (row,) = alerts(sessions)
    assert (row.status, row.count, row.dedupe_key) == ("open", 1, alert.dedupe_key)

    asyncio.run(monitored(mine))  # resumes from the checkpoint: the pause is not seen again
    (row,) = alerts(sessions)
    assert row.count == 1 and len(seen) == 1

    with sessions.begin() as session:  # as if the checkpoint were lost back to the pause
        session.execute(
            delete(store.CanonicalBlock).where(store.CanonicalBlock.number >= paused_at)
        )
    asyncio.run(monitored(mine))
    (row,) = alerts(sessions)
    assert row.count == 2 and len(seen) == 1  # seen again, recorded once, not paged again


def test_unknown_chain_is_a_plan_error(anvil: Anvil, tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, anvil, "0x" + "11" * 20))

    async def run() -> None:
        await run_monitor(
            loaded_plan=plan,
            chain="nope",
            sessions=sessionmaker(),
            stop_event=asyncio.Event(),
        )

    with pytest.raises(UnknownMonitorChain, match="no chain 'nope'"):
        asyncio.run(run())


def _cli(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "BREAKGLASS_HOME": str(home), "BREAKGLASS_LOG_LEVEL": "WARNING"}
    env.pop("BREAKGLASS_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_the_alert_and_stops_on_ctrl_c(
    anvil: Anvil, make_token: Any, tmp_path: Path
) -> None:
    token = make_token()
    plan = write_plan(tmp_path, anvil, token.address)
    bad = _cli(str(plan), "--chain", "nope", home=tmp_path / "home")
    _, bad_err = bad.communicate(timeout=30)
    assert bad.returncode == 2 and "no chain 'nope'" in bad_err

    process = _cli(str(plan), "--poll-interval", "0.05", home=tmp_path / "home")
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "monitoring" in process.stderr.readline()
        time.sleep(0.5)  # let it take the current head before the pause
        token.call(anvil.accounts[0], "pause")
        line = process.stdout.readline()
        assert "CRITICAL" in line and "token-paused" in line and "token paused by" in line
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest
    assert "monitor stopped" in rest
