"""A leader cut off from NATS (process alive, database reachable) stops before the other
replica takes over, and a NATS restart mid-stream loses nothing: real NATS JetStream,
PostgreSQL and anvil, replicas as processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from web3 import Web3

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.store.models import SideEffect

kit = sys.modules["cluster_kit"]  # loaded by conftest.py
harness = sys.modules["cluster_harness"]

pytestmark = [pytest.mark.chain, pytest.mark.postgres]

TTL = 2.0


def _spawn(tmp_path: Path, chain: tuple[Anvil, Any], db: str, hook: str) -> Any:
    anvil, _ = chain
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True, hook=hook)
    store.upgrade(db)
    env = {"GUARDIAN_KEY": anvil.private_keys[kit.GUARDIAN]}

    def spawn(name: str, nats: str) -> Any:
        log = tmp_path / f"{name}.log"
        return harness.Replica(name, plan=plan, db=db, nats=nats, env=env, ttl=TTL, log=log)

    return spawn


def _first_block(anvil: Anvil) -> int:
    return int(Web3(Web3.HTTPProvider(anvil.http_url)).eth.block_number)


def test_a_partitioned_leader_stops_before_the_other_takes_over(
    tmp_path: Path,
    chain: tuple[Anvil, Any],
    nats_server: Any,
    db: str,
    receiver: Any,
) -> None:
    anvil, token = chain
    spawn = _spawn(tmp_path, chain, db, receiver.url)
    first = _first_block(anvil)
    proxy = harness.Proxy(nats_server.port)
    cut_off = spawn("cut-off", proxy.url)
    try:
        harness.wait_for(lambda: cut_off.blocks, 60, "the first replica leading")
        other = spawn("other", nats_server.url)
        harness.wait_for(other.ready.is_set, 60, "the second replica ready")
        time.sleep(1.0)
        assert not other.blocks, "the standby followed the chain while the leader held it"
        proxy.cut()
        cut_at = time.monotonic()
        harness.wait_for(lambda: other.blocks, 15, "the other replica taking over")
        took_over = other.blocks[0][0]
        last_of_cut_off = max(t for t, _, _ in cut_off.blocks)
        assert last_of_cut_off < took_over, "both replicas followed the chain at once"
        assert last_of_cut_off - cut_at < TTL
        token.drain()
        harness.wait_for(token.paused, 20, "the exploit paused")
        proxy.mend()  # back on NATS: the lease is the other's now, so it stays a standby
        seen = len(cut_off.blocks)
        time.sleep(2 * TTL)
        assert len(cut_off.blocks) == seen, "the cut-off replica resumed while not leading"
        assert cut_off.process.poll() is None, "a partition must not kill the process"
    finally:
        for replica in (cut_off, *([other] if "other" in locals() else [])):
            replica.stop()
        proxy.close()

    assert len(kit.pauses(anvil, token.address, first)) == 1
    sessions = store.session_factory(store.make_engine(db))
    with sessions() as session:
        (effect,) = session.scalars(select(SideEffect)).all()
        assert effect.holder.endswith(f":{other.process.pid}")
    blocks = [n for r in (cut_off, other) for _, _, n in r.blocks]
    assert harness.gaps(blocks) == []


def test_a_nats_restart_mid_stream_loses_nothing(
    tmp_path: Path,
    chain: tuple[Anvil, Any],
    nats_server: Any,
    db: str,
    receiver: Any,
) -> None:
    anvil, token = chain
    spawn = _spawn(tmp_path, chain, db, receiver.url)
    first = _first_block(anvil)
    replicas = [spawn("one", nats_server.url), spawn("two", nats_server.url)]
    try:
        harness.wait_for(lambda: harness.active(replicas), 60, "a replica leading")
        drain_tx = token.drain()  # the alert's event may be in the outbox when NATS stops
        nats_server.restart()
        restarted = time.monotonic()
        harness.wait_for(token.paused, 30, "the exploit paused")
        harness.wait_for(
            lambda: any(t > restarted + 1 for r in replicas for t, _, _ in r.blocks),
            30,
            "blocks followed after the restart",
        )

        sessions = store.session_factory(store.make_engine(db))
        harness.wait_for(
            lambda: kit.incident_opened(sessions, drain_tx),
            30,
            "the alert reaching the incident desk",
        )
    finally:
        for replica in replicas:
            replica.stop()

    assert all(r.process.returncode == 0 for r in replicas)
    assert len(kit.pauses(anvil, token.address, first)) == 1
    blocks = [n for r in replicas for _, _, n in r.blocks]
    assert harness.gaps(blocks) == []
