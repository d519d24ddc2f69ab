"""SIGKILL the monitor again and again between a block's commit and the incident and
notification work: the whole pipeline (detect → incidents → notify, through the outbox)
loses and repeats nothing.

One chain is built first: blocks of real ERC-20 transfers out of two watched vaults, each a
``large-outflow`` alert. A reference monitor runs over it without a crash; then another,
on a fresh database, is killed at random points (right after a block's commit, before
anything works on its events; right after an event went through every consumer, before the
relay marked it; or at a random moment), restarted, killed again, and finally left to
finish. Both databases must hold the same alerts, incidents, incident
links, timeline rows, pages and messages, and every event must have been applied once by
each of its consumers.

The seed is printed (``pytest -s`` or on failure); set ``BREAKGLASS_CRASH_SEED`` to replay it.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.events import AlertRaised, IncidentChanged, IncidentOpened
from breakglass.store.models import (
    AlertRecord,
    ConsumedEvent,
    Delivery,
    Incident,
    IncidentAlert,
    OutboxRecord,
    Page,
    TimelineEvent,
)

pytestmark = [pytest.mark.chain, pytest.mark.e2e]

WORKER = Path(__file__).with_name("pipeline_worker.py")
_spec = importlib.util.spec_from_file_location(
    "breakglass_tests_events_oz_token", Path(__file__).with_name("oz_token.py")
)
assert _spec is not None and _spec.loader is not None
oz_token = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oz_token)
ROOT = Path(__file__).resolve().parents[2]
ADMIN, VAULTS, SINK = 0, (6, 7), 8
BLOCKS, PER_BLOCK = 24, 4
KILLS = 8
"""Kills that must land between a commit and the work on its events (more are tried)."""

PLAN = """
version: 1
protocol: Crash Test
people:
  alice: {{name: Alice}}
roles:
  incident_lead: [alice]
chains:
  local:
    chain_id: 31337
    block_time: 1
    rpc: ["{rpc}"]
    health: {{grace: 3600s}}
contracts:
  vault: {{chain: local, address: "{vault}"}}
  reserve: {{chain: local, address: "{reserve}"}}
channels:
  war-room: "json://127.0.0.1:9/hook"
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [vault, reserve]
    severity: high
    group_by: tx
    params: {{token: "{token}", threshold: 1, decimals: 18}}
"""


class Worker:
    """One monitor process; :attr:`lines` collects the events it prints, from a reader
    thread. ``die`` asks it to SIGKILL itself at a chosen point (see the worker)."""

    def __init__(
        self, plan: Path, rpc: str, db: str, start: int, log: Path, die: Sequence[str] = ()
    ) -> None:
        self.log = log
        with log.open("ab") as err:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, str(WORKER), "--plan", str(plan), "--rpc", rpc),
                    *("--db", db, "--start", str(start), *die),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**os.environ, "BREAKGLASS_LOG_LEVEL": "WARNING"},
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.wait(5)
            pytest.fail(f"worker did not start: {line!r}\n{log.read_text()[-3000:]}")
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def died(self, timeout: float) -> bool:
        """Whether it killed itself (SIGKILL) within ``timeout`` seconds."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        assert code == -signal.SIGKILL, f"worker ended ({code}):\n{self.log.read_text()[-3000:]}"
        self.reader.join(5)
        return True

    def kill(self) -> None:
        code = self.process.poll()
        assert code is None, f"worker died by itself ({code}):\n{self.log.read_text()[-3000:]}"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.reader.join(5)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self.reader.join(5)
        assert self.process.returncode == 0, self.log.read_text()[-3000:]


def _build_chain(anvil: Anvil, tmp_path: Path) -> tuple[Path, int, int]:
    """The token, the vaults' funds, the plan; then the blocks of outflows. Returns the
    plan, the block before the first outflow and the last block."""
    factory, token = oz_token.deploy_token(anvil, admin=ADMIN, holders=VAULTS)
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(
        PLAN.format(
            rpc=anvil.http_url,
            vault=anvil.accounts[VAULTS[0]],
            reserve=anvil.accounts[VAULTS[1]],
            token=token,
        )
    )
    start = int(anvil.rpc("eth_blockNumber", []), 16)
    transfer = factory.encode_abi(
        "transfer", args=[Web3.to_checksum_address(anvil.accounts[SINK]), 2 * 10**18]
    )
    nonces = {
        v: int(anvil.rpc("eth_getTransactionCount", [anvil.accounts[v], "latest"]), 16)
        for v in VAULTS
    }
    anvil.rpc("evm_setAutomine", [False])
    try:
        for block in range(BLOCKS):
            batch = []
            for i in range(PER_BLOCK):
                vault = VAULTS[(block + i) % 2]
                tx = {"from": anvil.accounts[vault], "to": token, "data": transfer}
                tx |= {"gas": hex(80_000), "nonce": hex(nonces[vault])}
                nonces[vault] += 1
                batch.append(
                    {"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction", "params": [tx]}
                )
            answers = httpx.post(anvil.http_url, json=batch, timeout=30).json()
            assert all("result" in a for a in answers), answers[:2]
            anvil.rpc("evm_increaseTime", [61])  # each block in its own minute of alerts
            anvil.rpc("evm_mine", [])
    finally:
        anvil.rpc("evm_setAutomine", [True])
    return plan, start, int(anvil.rpc("eth_blockNumber", []), 16)


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, int]:
    """What the pipeline produced, counted; ``messages`` counts what digests carry too."""
    with sessions() as session:

        def count(model: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        messages = sum(
            len(row.payload.get("digest", {}).get("items", [])) if row.event == "digest" else 1
            for row in session.scalars(select(Delivery))
        )
        return {
            "alerts": count(AlertRecord),
            "incidents": count(Incident),
            "incident_alerts": count(IncidentAlert),
            "timeline": count(TimelineEvent),
            "pages": count(Page),
            "messages": messages,
            "events": count(OutboxRecord),
        }


def _settled(sessions: sessionmaker[Session], tip: int) -> bool:
    with sessions() as session:
        checkpoint = store.get_checkpoint(session, chain="local")
        waiting = session.scalar(select(func.count()).where(OutboxRecord.published_at.is_(None)))
    return checkpoint is not None and checkpoint.block_number >= tip and not waiting


def _checkpoint(db: str) -> int:
    engine = store.make_engine(db)
    try:
        with store.session_factory(engine)() as session:
            found = store.get_checkpoint(session, chain="local")
            return found.block_number if found is not None else -1
    finally:
        engine.dispose()


def _settled_at(db: str, tip: int) -> bool:
    engine = store.make_engine(db)
    try:
        return _settled(store.session_factory(engine), tip)
    finally:
        engine.dispose()


def _left_undelivered(db: str) -> int:
    """Events committed and not yet through the pipeline (0 once it caught up)."""
    engine = store.make_engine(db)
    try:
        with store.session_factory(engine)() as session:
            waiting = select(func.count()).where(OutboxRecord.published_at.is_(None))
            return int(session.scalar(waiting) or 0)
    finally:
        engine.dispose()


def _run_to_the_end(
    plan: Path, rpc: str, db: str, start: int, tip: int, log: Path
) -> dict[str, int]:
    engine = store.make_engine(db)
    sessions = store.session_factory(engine)
    worker = Worker(plan, rpc, db, start, log)
    try:
        deadline = time.monotonic() + 90
        last: dict[str, int] = {}
        while True:  # settled, and nothing moved for a second
            assert time.monotonic() < deadline, f"never settled: {_snapshot(sessions)}"
            assert worker.process.poll() is None, log.read_text()[-3000:]
            now = _snapshot(sessions) if _settled(sessions, tip) else {}
            if now and now == last:
                break
            last = now
            time.sleep(1.0)
    finally:
        worker.stop()
    try:
        return _snapshot(sessions) | _consumed(sessions)
    finally:
        engine.dispose()


def _consumed(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many events each consumer applied, against how many it should have."""
    with sessions() as session:
        kinds: dict[str, int] = {
            kind: n
            for kind, n in session.execute(
                select(OutboxRecord.kind, func.count()).group_by(OutboxRecord.kind)
            )
        }
        marks: dict[str, int] = {
            consumer: n
            for consumer, n in session.execute(
                select(ConsumedEvent.consumer, func.count()).group_by(ConsumedEvent.consumer)
            )
        }
    desk_kinds = kinds.get(AlertRaised.KIND, 0)
    notify_kinds = kinds.get(IncidentOpened.KIND, 0) + kinds.get(IncidentChanged.KIND, 0)
    assert marks.get("incidents.desk", 0) == desk_kinds, (marks, kinds)
    assert marks.get("notify", 0) == notify_kinds, (marks, kinds)
    return {"desk_marks": desk_kinds, "notify_marks": notify_kinds}


def test_sigkill_between_commit_and_incident_work_loses_and_repeats_nothing(
    anvil: Anvil, tmp_path: Path
) -> None:
    seed = int(os.environ.get("BREAKGLASS_CRASH_SEED", random.randrange(2**32)))
    print(f"pipeline crash seed: {seed} (BREAKGLASS_CRASH_SEED={seed} replays it)")
    rng = random.Random(seed)
    plan, start, tip = _build_chain(anvil, tmp_path)
    rpc = anvil.http_url

    reference = _run_to_the_end(
        plan, rpc, f"sqlite:///{tmp_path / 'reference.db'}", start, tip, tmp_path / "ref.log"
    )
    assert reference["alerts"] == BLOCKS * PER_BLOCK
    assert reference["incident_alerts"] == reference["alerts"]
    assert reference["pages"] == reference["incidents"] >= 1
    assert reference["messages"] > reference["incidents"]

    db = f"sqlite:///{tmp_path / 'crashed.db'}"
    store.upgrade(db)
    log = tmp_path / "crashed.log"
    kills: list[str] = []
    between, before = 0, 0  # kills that left committed events undelivered, mid-work
    for _ in range(4 * KILLS):
        mode = rng.random()
        blocks_left = _checkpoint(db) < tip  # else no commit comes to die at
        if mode < 0.6 and blocks_left:  # right after a block's commit, before its events moved
            worker = Worker(
                plan, rpc, db, start, log, ("--die-after-commit", str(rng.randint(1, 4)))
            )
        elif mode < 0.85 or not blocks_left:  # right after an event went through every consumer
            worker = Worker(
                plan, rpc, db, start, log, ("--die-after-event", str(rng.randint(1, 12)))
            )
        else:  # at a random moment of its work
            worker = Worker(plan, rpc, db, start, log)
            time.sleep(rng.uniform(0.02, 0.15))
        if not worker.died(timeout=0 if mode >= 0.85 and blocks_left else 10):
            worker.kill()
        left = _left_undelivered(db)
        between += left > 0 and (bool(worker.lines) or left != before)
        before = left
        kills.append(f"{len(worker.lines)} events, {left} left")
        if between >= KILLS or (not left and _settled_at(db, tip)):
            break
    crashed = _run_to_the_end(plan, rpc, db, start, tip, log)
    print(f"{len(kills)} kills ({'; '.join(kills)}): {crashed}")
    assert crashed == reference
    assert between >= KILLS, f"only {between} kills fell between a commit and its events' work"
