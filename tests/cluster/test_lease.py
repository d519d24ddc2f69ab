"""Leases in a real JetStream key-value bucket: one holder, takeover when it lapses, and a
holder that cannot renew stops acting before anyone else can start."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from breakglass.cluster import Lease, LeaseLost, connect
from breakglass.cluster.lease import lease_bucket

TTL = 1.5


async def _bucket(url: str):  # type: ignore[no-untyped-def]
    client = await connect(url)
    kv = await lease_bucket(client.jetstream(), f"leases_{secrets.token_hex(4)}", ttl=TTL)
    return client, kv


def test_one_holder_then_a_takeover_once_the_holder_stops_renewing(nats_url: str) -> None:
    async def scenario() -> None:
        client, kv = await _bucket(nats_url)
        try:
            first = Lease(kv, "chain.local", "replica-a", ttl=TTL)
            second = Lease(kv, "chain.local", "replica-b", ttl=TTL)
            assert await first.acquire()
            assert not await second.acquire()
            token = first.fence()
            assert await first.renew()
            assert first.fence() > token  # every renewal is a new fencing token
            with pytest.raises(LeaseLost):
                second.fence()
            # replica-a dies: nobody renews; the bucket expires the key after the ttl
            await asyncio.sleep(TTL + 0.7)
            assert not first.held()
            assert await second.acquire()
            assert second.fence() > 0
            assert not await first.renew()  # the old holder learns it lost, and cannot act
            with pytest.raises(LeaseLost):
                first.fence()
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_clean_stop_hands_over_at_once(nats_url: str) -> None:
    async def scenario() -> None:
        client, kv = await _bucket(nats_url)
        try:
            first = Lease(kv, "signer.guardian", "replica-a", ttl=TTL)
            second = Lease(kv, "signer.guardian", "replica-b", ttl=TTL)
            assert await first.acquire()
            await first.release()
            assert await second.acquire()
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_partitioned_holder_stops_acting_before_the_standby_can_start(nats_url: str) -> None:
    async def scenario() -> None:
        client_a, kv_a = await _bucket(nats_url)
        bucket = kv_a._name
        client_b = await connect(nats_url)
        kv_b = await client_b.jetstream().key_value(bucket)
        try:
            holder = Lease(kv_a, "chain.local", "replica-a", ttl=TTL)
            standby = Lease(kv_b, "chain.local", "replica-b", ttl=TTL)
            stop = asyncio.Event()
            lost: list[bool] = []
            keeper = asyncio.create_task(holder.keep(stop, on_lost=lambda: lost.append(True)))
            await asyncio.sleep(0.3)
            assert holder.held()
            await client_a.close()  # the partition: the process lives, its connection does not
            stopped_acting = None
            took_over = None
            loop = asyncio.get_running_loop()
            start = loop.time()
            while took_over is None and loop.time() - start < 10:
                if stopped_acting is None and not holder.held():
                    stopped_acting = loop.time()
                if await standby.acquire():
                    took_over = loop.time()
                await asyncio.sleep(0.05)
            stop.set()
            await keeper
            assert stopped_acting is not None and took_over is not None
            assert stopped_acting < took_over  # never two holders able to act
            assert lost == [True]
        finally:
            await client_b.close()

    asyncio.run(scenario())
