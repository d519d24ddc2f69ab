"""The send guard on a real chain: a replica whose signer lease lapsed sends nothing (the
guardian's nonce does not move), and an effect claimed by one replica is not sent by
another; real NATS JetStream leases, effects claimed in PostgreSQL, anvil."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from breakglass import store
from breakglass.cluster import Lease, connect
from breakglass.cluster.guard import EffectGuard
from breakglass.cluster.lease import lease_bucket
from breakglass.devchain import Anvil
from breakglass.plan import load_plan
from breakglass.respond.env import LiveEnv
from breakglass.respond.sender import SendError, send_guard
from breakglass.store.models import SideEffect

kit = sys.modules["cluster_kit"]  # loaded by conftest.py

pytestmark = [pytest.mark.chain, pytest.mark.postgres]

TTL = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_lapsed_lease_or_a_claimed_effect_sends_nothing(
    tmp_path: Path, chain: tuple[Anvil, Any], nats_url: str, db: str
) -> None:
    anvil, token = chain
    loaded = load_plan(kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True))
    sessions = store.session_factory(store.make_engine(db))
    guardian = anvil.accounts[kit.GUARDIAN]
    pause = bytes.fromhex(kit.PAUSE[2:])

    async def scenario() -> list[str]:
        client = await connect(nats_url)
        kv = await lease_bucket(client.jetstream(), f"leases_{secrets.token_hex(4)}", ttl=TTL)
        clock = Clock()
        mine = Lease(kv, "signer.guardian", "replica-a", ttl=TTL, clock=clock)
        theirs = Lease(kv, "signer.other", "replica-b", ttl=TTL)
        assert await mine.acquire()
        env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": anvil.private_keys[1]})
        sender = env.transactor("local", "guardian")
        rpc = env.rpc("local")
        a = EffectGuard(
            sessions, chain="local", rpc=rpc, leases={guardian: mine}, holder="replica-a"
        )
        b = EffectGuard(
            sessions, chain="local", rpc=rpc, leases={guardian: theirs}, holder="replica-b"
        )
        refusals: list[str] = []

        async def send(guard: EffectGuard, trigger: str) -> None:
            send_guard.set(guard(trigger, "contain"))
            try:
                await sender.send(token.address, pause)
            except SendError as exc:
                refusals.append(str(exc))

        try:
            clock.now = TTL  # a partitioned or paused holder: its lease may have lapsed
            await asyncio.create_task(send(a, "drain:local:0xaa:0"))
            clock.now = 0.0  # renewed in time: it may act, and claims the effect
            await asyncio.create_task(send(a, "drain:local:0xbb:0"))
            while not await asyncio.to_thread(token.paused):
                await asyncio.sleep(0.1)
            await asyncio.to_thread(token.unpause)  # so that only the guard can refuse now
            # the same exploit seen by another replica (a redelivery, a takeover)
            assert await theirs.acquire()  # held now, under a lease of its own
            await asyncio.create_task(send(b, "drain:local:0xbb:0"))
        finally:
            await env.aclose()
            await client.close()
        return refusals

    before = token.nonce(guardian)
    refusals = asyncio.run(scenario())

    assert len(refusals) == 2
    assert "lease signer.guardian is not held by replica-a; sending nothing" in refusals[0]
    assert "was carried out by another replica" in refusals[1]
    assert token.nonce(guardian) == before + 1  # the one allowed pause, nothing else
    with sessions() as session:
        (effect,) = session.scalars(select(SideEffect)).all()
    assert effect.holder == "replica-a" and "drain:local:0xbb:0" in effect.key
    assert effect.result is not None and effect.result["nonce"] == before
