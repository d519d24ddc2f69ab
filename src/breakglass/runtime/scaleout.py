"""Scale-out mode: replicas share PostgreSQL and NATS JetStream, and leases decide who acts.

- ``chain.<name>``: the replica holding it follows the chain (ingest, rules, the responder);
  the others wait and take it when it lapses, resuming from the checkpoint in PostgreSQL.
- ``signer.<name>``: taken by the replica that leads a chain whose automatic steps use the
  signer, and held while it leads one; its revision fences every broadcast
  (:class:`~breakglass.cluster.guard.EffectGuard`), so only its holder spends the nonces.
- ``role.notify``: the incident desk's reminders and the notifier's delivery loop run on one
  replica (a delivery row is written once per event; one loop sends it).

Events go through the outbox, relayed by every replica to JetStream with ``Nats-Msg-Id`` =
the event's id (a second relay of the same row is dropped by the server), and are consumed
by durable consumers: each event reaches one replica's desk and notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.cluster import Lease, NatsBus, connect
from breakglass.cluster.connect import ClusterError, masked
from breakglass.cluster.guard import EffectGuard
from breakglass.cluster.lease import LEASE_BUCKET, lease_bucket
from breakglass.detect.monitor import Reactor
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.responder import Responder
from breakglass.runtime.fleet import Fleet, build_fleet

__all__ = [
    "NatsLeader",
    "build_replica",
    "check_scaleout_database",
    "open_scaleout",
    "replica_name",
]

_log = structlog.get_logger("breakglass.runtime")


def replica_name() -> str:
    """Who this process is, as written in the leases it holds."""
    return f"{socket.gethostname()}:{os.getpid()}"


def check_scaleout_database(url: str) -> None:
    """Scale-out replicas share one database; SQLite cannot be shared.

    Raises:
        ClusterError: ``url`` is not PostgreSQL.
    """
    if not url.startswith(("postgresql:", "postgresql+", "postgres:")):
        raise ClusterError(
            "scale-out mode (a NATS bus) needs a PostgreSQL database that every replica "
            "shares: set BREAKGLASS_DATABASE_URL=postgresql://…; SQLite is one process's"
        )


@dataclass
class NatsLeader:
    """Leases of this replica in the JetStream bucket ``breakglass_leases``."""

    kv: object
    client: object
    sessions: sessionmaker[Session]
    owner: str = field(default_factory=replica_name)
    ttl: float = 2.0
    _held: dict[str, tuple[Lease, asyncio.Event, asyncio.Task[None]]] = field(default_factory=dict)
    _signers: dict[str, set[str]] = field(default_factory=dict)
    """Per signer lease key, the chains led here that need it."""

    async def lead(self, key: str, stop: asyncio.Event) -> asyncio.Event | None:
        lease = Lease(self.kv, key, self.owner, ttl=self.ttl)  # type: ignore[arg-type]
        logged = False
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a reconnect: try again shortly
                if await lease.acquire():
                    break
            if not logged:
                _log.info("cluster.standby", key=key, owner=self.owner)
                logged = True
            with contextlib.suppress(TimeoutError):  # a sixth of the ttl: take over quickly
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 6)
        else:
            return None
        lost = asyncio.Event()
        done = asyncio.Event()
        task = asyncio.create_task(self._hold(lease, _any(stop, done), lost))
        self._held[key] = (lease, done, task)
        _log.warning("cluster.leading", key=key, owner=self.owner, fence=lease.revision)
        return lost

    @staticmethod
    async def _hold(lease: Lease, until: asyncio.Event, lost: asyncio.Event) -> None:
        """Keep ``lease`` until ``until``; set ``lost`` the moment it may no longer act
        (checked every 50 ms, not only when a renewal returns: a partitioned renewal hangs)."""
        keeper = asyncio.create_task(lease.keep(until, on_lost=lost.set))
        try:
            while not until.is_set() and not lost.is_set():
                if not lease.held():
                    lost.set()
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), timeout=0.05)
        finally:
            if lost.is_set():
                until.set()
            await asyncio.gather(keeper, return_exceptions=True)

    async def resign(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            _, done, task = held
            done.set()
            await asyncio.gather(task, return_exceptions=True)
        if key.startswith("chain."):
            chain = key.removeprefix("chain.")
            for signer, chains in list(self._signers.items()):
                chains.discard(chain)
                if not chains:
                    del self._signers[signer]
                    await self.resign(signer)

    def arm(self, chain: str, reactor: Reactor | None) -> None:
        """Take the leases of the signers ``reactor`` sends with, and fence its sends."""
        if not isinstance(reactor, Responder):
            return
        leases: dict[str, Lease] = {}
        for name in sorted(reactor.signers()):
            key = f"signer.{name}"
            self._signers.setdefault(key, set()).add(chain)
            if key not in self._held:
                lease = Lease(self.kv, key, self.owner, ttl=self.ttl)  # type: ignore[arg-type]
                done = asyncio.Event()
                self._held[key] = (lease, done, asyncio.create_task(lease.keep(done)))
            address = reactor.env.signer_account(name).address
            leases[address] = self._held[key][0]
        reactor.guard = EffectGuard(
            self.sessions,
            chain=chain,
            rpc=reactor.env.rpc(chain),
            leases=leases,
            holder=self.owner,
        )

    async def aclose(self) -> None:
        for key in list(self._held):
            await self.resign(key)
        close = getattr(self.client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def _any(*events: asyncio.Event) -> asyncio.Event:
    """An event set once any of ``events`` is set."""
    merged = asyncio.Event()

    async def watch() -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        merged.set()

    task = asyncio.ensure_future(watch())
    _keep_refs.add(task)
    task.add_done_callback(_keep_refs.discard)
    return merged


_keep_refs: set[asyncio.Future[None]] = set()


async def open_scaleout(
    url: str,
    sessions: sessionmaker[Session],
    *,
    ttl: float = 2.0,
    environ: Mapping[str, str] | None = None,
) -> tuple[NatsBus, NatsLeader]:
    """Connect to NATS at ``url``: the events' bus and this replica's leases.

    Raises:
        ClusterError: NATS cannot be reached, or has no JetStream.
    """
    client = await connect(url, name=f"breakglass {replica_name()}")
    try:
        js = client.jetstream()
        bus = NatsBus(js)
        await bus.ensure_stream()
        kv = await lease_bucket(js, LEASE_BUCKET, ttl=ttl)
    except ClusterError:
        await client.close()
        raise
    except Exception as exc:  # JetStream disabled, or a permission refused
        await client.close()
        raise ClusterError(f"NATS at {masked(url)} offers no JetStream: {exc!r}"[:300]) from None
    return bus, NatsLeader(kv, client, sessions, ttl=ttl)


async def build_replica(
    loaded: LoadedPlan,
    *,
    chains: Sequence[str],
    sessions: sessionmaker[Session],
    database_url: str,
    nats_url: str,
    ttl: float = 2.0,
    **options: Any,
) -> Fleet:
    """One replica of scale-out mode: :func:`~breakglass.runtime.fleet.build_fleet` on the
    JetStream bus, each chain watched while this replica holds its lease.

    Raises:
        ClusterError: the database is not PostgreSQL, or NATS cannot be used.
        ConfigError: as :func:`build_fleet`.
    """
    check_scaleout_database(database_url)
    bus, leader = await open_scaleout(nats_url, sessions, ttl=ttl)
    try:
        return build_fleet(
            loaded, chains=chains, sessions=sessions, bus=bus, leader=leader, **options
        )
    except BaseException:
        await leader.aclose()
        raise
