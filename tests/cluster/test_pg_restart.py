"""PostgreSQL stopped during a stream, an exploit landing while it is down, then started:
the replicas recover and nothing is lost (no block, no alert, no page or post, no pause) nor
doubled. The database is a private cluster of this test (``initdb`` + ``pg_ctl`` on a free
port), never the shared server; real NATS JetStream and anvil, replicas as processes."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from web3 import Web3

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.store.models import AlertRecord, Delivery, SideEffect

kit = sys.modules["cluster_kit"]  # loaded by conftest.py
harness = sys.modules["cluster_harness"]

pytestmark = [pytest.mark.chain, pytest.mark.postgres, pytest.mark.nats]

TTL = 2.0


def test_a_postgres_restart_mid_stream_loses_nothing(
    tmp_path: Path,
    chain: tuple[Anvil, Any],
    nats_server: Any,
    private_postgres: Any,
    receiver: Any,
) -> None:
    anvil, token = chain
    db = private_postgres.url
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True, hook=receiver.url)
    env = {"GUARDIAN_KEY": anvil.private_keys[kit.GUARDIAN]}
    first = int(Web3(Web3.HTTPProvider(anvil.http_url)).eth.block_number)

    def spawn(name: str) -> Any:
        log = tmp_path / f"{name}.log"
        return harness.Replica(
            name, plan=plan, db=db, nats=nats_server.url, env=env, ttl=TTL, log=log
        )

    replicas = [spawn("one"), spawn("two")]
    try:
        harness.wait_for(lambda: harness.active(replicas), 60, "a replica leading")
        private_postgres.down()
        drain_tx = token.drain()  # the exploit lands while the database is down: the
        time.sleep(2.0)  # block's writes, the alert and the pause's claim all wait for it
        private_postgres.up()
        restarted = time.monotonic()
        harness.wait_for(token.paused, 30, "the exploit paused")
        harness.wait_for(
            lambda: any(t > restarted + 2 for r in replicas for t, _, _ in r.blocks),
            30,
            "blocks followed after the restart",
        )
        sessions = store.session_factory(store.make_engine(db))

        harness.wait_for(
            lambda: kit.incident_opened(sessions, drain_tx),
            30,
            "the alert reaching the incident desk",
        )
        time.sleep(3)  # the last events through the relay and the notifier
    finally:
        for replica in replicas:
            replica.stop()

    assert all(r.process.returncode == 0 for r in replicas)
    assert len(kit.pauses(anvil, token.address, first)) == 1
    assert harness.gaps([n for r in replicas for _, _, n in r.blocks]) == []
    with sessions() as session:
        alerts = session.scalars(select(AlertRecord).where(AlertRecord.rule == "drain")).all()
        effects = session.scalars(select(SideEffect)).all()
        sent = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
        )
        unsent = session.scalars(
            select(Delivery).where(
                Delivery.status != "sent",
                (Delivery.next_attempt_at.is_(None))
                | (Delivery.next_attempt_at <= datetime.now(UTC)),
            )
        ).all()
    assert [a.tx_hash for a in alerts] == [drain_tx]
    assert len(effects) == 1
    assert not unsent, [(d.event, d.status, d.last_error) for d in unsent]
    assert sent and sent == len(receiver.paths), (sent, receiver.paths)
