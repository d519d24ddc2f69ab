"""Two replicas of the monitor on one chain, on real NATS JetStream, PostgreSQL and anvil.

The active one is SIGKILLed at a random point around each exploit, and a fresh replica
joins so that two run again: every exploit is paused once and only once (one pause
transaction, nonces in sequence), no block is skipped, every alert is stored once, and
every notification is posted once.
"""

from __future__ import annotations

import random
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

pytestmark = [pytest.mark.chain, pytest.mark.postgres]

KILLS = 3
TTL = 2.0


def test_replicas_pause_each_exploit_once_through_kills_of_the_active_one(
    tmp_path: Path,
    chain: tuple[Anvil, Any],
    nats_url: str,
    db: str,
    receiver: Any,
) -> None:
    anvil, token = chain
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True, hook=receiver.url)
    store.upgrade(db)
    env = {"GUARDIAN_KEY": anvil.private_keys[kit.GUARDIAN]}
    first_block = Web3(Web3.HTTPProvider(anvil.http_url)).eth.block_number
    count = iter(range(100))

    def replica() -> Any:
        return harness.Replica(
            f"r{next(count)}", plan=plan, db=db, nats=nats_url, env=env, ttl=TTL,
            log=tmp_path / "replicas.log",
        )  # fmt: skip

    rng = random.Random(17)
    replicas = [replica(), replica()]
    everyone = list(replicas)
    failovers: list[float] = []
    try:
        harness.wait_for(lambda: harness.active(replicas), 60, "a replica leading the chain")
        for _ in range(KILLS):
            leader = harness.active(replicas)
            assert leader is not None
            drained_at = time.monotonic()
            exploit = token.drain  # the exploit, then a kill at a random point around it
            exploit()
            time.sleep(rng.uniform(0.0, 1.5))
            leader.kill()
            killed = time.monotonic()
            replicas.remove(leader)
            replicas.append(replica())
            everyone.append(replicas[-1])
            harness.wait_for(token.paused, 30, "the exploit paused")
            taken = harness.wait_for(
                lambda k=killed: any(t > k for r in replicas for t, _, _ in r.blocks),
                30,
                "a standby processing blocks",
            )
            failovers.append(taken)
            assert time.monotonic() - drained_at < 30
            token.unpause()  # the team unpauses; the next exploit must be paused again
            time.sleep(1.5)
        time.sleep(3)  # the last events through the relay and the notifier
    finally:
        for r in replicas:
            r.stop()

    blocks = [n for r in everyone for _, _, n in r.blocks]
    assert blocks, "no replica processed a block"
    assert harness.gaps(blocks) == [], "blocks no replica processed"
    sessions = store.session_factory(store.make_engine(db))
    with sessions() as session:
        alerts = session.scalars(select(AlertRecord).where(AlertRecord.rule == "drain")).all()
        effects = session.scalars(select(SideEffect)).all()
        sent = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
        )
        due = datetime.now(UTC)  # a digest folding later alerts of an incident waits
        unsent = session.scalars(
            select(Delivery).where(
                Delivery.status != "sent",
                (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= due),
            )
        ).all()
        checkpoint = store.get_checkpoint(session, chain="local")
    pauses = kit.pauses(anvil, token.address, first_block)
    assert len(alerts) == KILLS, [a.dedupe_key for a in alerts]
    assert len(pauses) == KILLS, f"pause transactions: {pauses}"
    nonces = [n for _, n in pauses]
    assert nonces == list(range(nonces[0], nonces[0] + KILLS)), nonces
    assert len(effects) == KILLS
    assert not unsent, [(d.event, d.status, d.last_error) for d in unsent]
    # A channel post is at least once: a replica killed between its POST and recording it
    # as sent leaves it to be posted again, so each kill may repeat at most one message.
    assert sent <= len(receiver.paths) <= sent + KILLS, (sent, receiver.paths)
    assert checkpoint is not None
    print(f"failovers: {[round(f, 2) for f in failovers]} s")
    assert max(failovers) < 3 * TTL + 3, failovers
