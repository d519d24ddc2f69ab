"""Review of the reaction path: does the event loop that reacts to the next block wait for
the database while another writer (the relay, a consumer, the journal, ``breakglass
serve``) holds SQLite's write lock?

The block stream writes each block's alerts, outbox rows and checkpoint inside its sinks,
synchronously on the event loop (``ingest/stream.py``: ``with self.checkpoints.unit()``
around ``await sink(event, session)``; ``detect/monitor.py``: ``_write_held`` in ``sink``).
With the write lock held elsewhere, that insert waits up to SQLite's busy timeout (5 s) and
the whole loop waits with it: the next block's head, its findings and the responder's pause,
and every playbook step in flight. The outbox added writers that take that lock (the relay's
marks, every consumer's transaction), so the wait is likelier than before.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_monitor

pytestmark = pytest.mark.chain


def _plan(tmp_path: Path, anvil: Anvil) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local: {{chain_id: 31337, rpc: [{{url: "{anvil.http_url}", ws: "{anvil.ws_url}"}}]}}
        """)
    )
    return path


def _checkpoint(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        found = store.get_checkpoint(session, chain="local")
        return -1 if found is None else found.block_number


def test_a_held_write_lock_does_not_stall_the_monitors_event_loop(
    anvil: Anvil, tmp_path: Path
) -> None:
    path = tmp_path / "db" / "breakglass.db"
    url = f"sqlite:///{path.as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    loaded = load_plan(_plan(tmp_path, anvil))

    async def scenario() -> float:
        stop = asyncio.Event()
        app = build_monitor(loaded, chain="local", sessions=sessions, respond=False)
        task = asyncio.create_task(app.run(stop, poll_interval=0.05))
        start = int(anvil.rpc("eth_blockNumber", []), 16)
        deadline = time.monotonic() + 20
        while _checkpoint(sessions) < start:
            assert not task.done() and time.monotonic() < deadline, "the monitor never caught up"
            await asyncio.sleep(0.05)
        release = threading.Event()
        held = threading.Event()

        def writer() -> None:  # another writer holding the lock for 1.5 s
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(1.5)
            conn.execute("ROLLBACK")
            conn.close()

        thread = threading.Thread(target=writer)
        thread.start()
        await asyncio.to_thread(held.wait, 5)
        await asyncio.to_thread(anvil.rpc, "evm_mine", [])
        worst = 0.0
        last = time.monotonic()
        until = last + 2.5
        while time.monotonic() < until:  # how late is a 10 ms sleep, at worst?
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst = max(worst, now - last)
            last = now
        await asyncio.to_thread(thread.join)
        stop.set()
        await asyncio.wait_for(task, 10)
        return worst

    try:
        worst = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert worst < 0.25, f"the event loop stood still for {worst:.2f}s waiting for the lock"
