"""A responder that dies between claiming a pause and its transaction's landing: the next
holder of the signer's lease checks the recorded transaction instead of sending a second
pause. Real anvil, NATS JetStream leases and effects claimed in PostgreSQL; the death is a
hook in this test (the replica's guard claims, then the process stops at once), not a path
of the product."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable
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
from breakglass.respond.sender import PreparedTx, SendError, send_guard
from breakglass.store.models import SideEffect

kit = sys.modules["cluster_kit"]  # loaded by conftest.py

pytestmark = [pytest.mark.chain, pytest.mark.postgres, pytest.mark.nats]

TTL = 1.0


class Died(BaseException):
    """The replica's process ends here (not an error the sender could handle)."""


async def _take(kv: Any, owner: str) -> Lease:
    """The signer's lease for ``owner``, once the previous holder's has lapsed."""
    lease = Lease(kv, "signer.guardian", owner, ttl=TTL)
    while not await lease.acquire():
        await asyncio.sleep(0.1)
    return lease


def test_a_holder_dying_between_claim_and_send_leaves_one_pause(
    tmp_path: Path, chain: tuple[Anvil, Any], nats_url: str, db: str
) -> None:
    anvil, token = chain
    loaded = load_plan(kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True))
    sessions = store.session_factory(store.make_engine(db))
    guardian = anvil.accounts[kit.GUARDIAN]
    pause = bytes.fromhex(kit.PAUSE[2:])
    environ = {"GUARDIAN_KEY": anvil.private_keys[1]}

    async def replica(kv: Any, name: str, trigger: str, *, dies: str | None) -> str:
        """One replica sends the pause for ``trigger``: what happened, in words.

        ``dies``: "after claim" (claimed, never broadcast) or "after send" (broadcast,
        never waited for); ``None`` lives."""
        lease = await _take(kv, name)
        env = LiveEnv(loaded, sessions, environ=environ)
        guard = EffectGuard(
            sessions, chain="local", rpc=env.rpc("local"), leases={guardian: lease}, holder=name
        )
        checked = guard(trigger, "contain")

        async def claim_then_die(address: str, tx: PreparedTx) -> None:
            await checked(address, tx)
            raise Died

        send_guard.set(claim_then_die if dies == "after claim" else checked)
        transactor = env.transactor("local", "guardian")
        try:
            await transactor.arm(token.address, pause)  # as the responder does at start-up
            return "sent " + await transactor.send(token.address, pause)
        except SendError as exc:
            return f"refused: {exc}"
        except Died:
            return "died"
        finally:
            await env.aclose()

    def one_pause_since(first: int) -> list[tuple[int, int]]:
        while not token.paused():
            asyncio.run(asyncio.sleep(0.1))
        found = kit.pauses(anvil, token.address, first)
        token.unpause()  # the next case starts unpaused
        return found

    async def pair(n: int, dies: str, between: Callable[[], None]) -> tuple[str, str]:
        """Replica ``a<n>`` sends the pause of trigger ``t<n>`` and dies as ``dies`` says;
        ``between`` runs; then replica ``b<n>`` takes the signer's lease and sends the same.
        What each did, in words."""
        client = await connect(nats_url)
        kv = await lease_bucket(client.jetstream(), bucket, ttl=TTL)
        try:
            first_one = await asyncio.create_task(replica(kv, f"a{n}", f"t{n}", dies=dies))
            await asyncio.to_thread(between)
            return first_one, await asyncio.create_task(replica(kv, f"b{n}", f"t{n}", dies=None))
        finally:
            await client.close()

    bucket = f"leases_{secrets.token_hex(4)}"  # one for the test: its revisions only grow
    # 1. claimed, never broadcast: the next holder broadcasts the same signed pause
    first, before = anvil_block(token), token.nonce(guardian)
    a, b = asyncio.run(pair(1, "after claim", lambda: None))
    assert a == "died"
    assert "dropped and broadcast again; sending no second transaction" in b
    assert one_pause_since(first) == [(one_pause_block(token, first), before)]
    with sessions() as session:
        (effect,) = session.scalars(select(SideEffect).where(SideEffect.key.contains(":t1:")))
        assert effect.holder == "a1" and effect.result is not None
        mined = token.w3.eth.get_transaction(effect.result["tx_hash"])
        assert mined["blockNumber"] is not None  # the recorded one is the one that landed
    assert token.nonce(guardian) == before + 1

    # 2. broadcast, then died before it was mined: the next holder sends nothing
    first, before = anvil_block(token), token.nonce(guardian)
    mining(token, every=0)  # so that the pause is still pending when the next holder looks
    try:
        a, b = asyncio.run(pair(2, "after send", lambda: None))
    finally:
        mining(token, every=1)
    assert a.startswith("sent 0x")
    assert "still pending; sending no second transaction" in b
    assert len(one_pause_since(first)) == 1
    assert token.nonce(guardian) == before + 1

    # 3. claimed, never broadcast, and the key's nonce went to another transaction since:
    #    that pause can never land, so the next holder takes the claim over and sends its own
    def nonce_used() -> None:
        kit.send(token.w3, anvil.private_keys[1], {"to": guardian, "value": 1})

    first, before = anvil_block(token), token.nonce(guardian)
    a, b = asyncio.run(pair(3, "after claim", nonce_used))
    assert a == "died" and b.startswith("sent 0x")
    assert one_pause_since(first) == [(one_pause_block(token, first), before + 1)]
    with sessions() as session:
        (effect,) = session.scalars(select(SideEffect).where(SideEffect.key.contains(":t3:")))
        assert effect.holder == "b3" and effect.result is not None
        assert effect.result["tx_hash"] == b.removeprefix("sent ")


def mining(token: Any, *, every: int) -> None:
    """Mine a block every ``every`` seconds (0: stop mining)."""
    token.w3.provider.make_request("evm_setIntervalMining", [every])


def anvil_block(token: Any) -> int:
    return int(token.w3.eth.block_number)


def one_pause_block(token: Any, first: int) -> int:
    """The block of the one pause since ``first`` (the assertion compares the whole list)."""
    found = kit.pauses(token.anvil, token.address, first)
    return found[0][0] if found else -1
