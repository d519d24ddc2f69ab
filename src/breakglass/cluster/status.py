"""What ``breakglass cluster status`` shows: who leads each chain and signer, for how long,
how far each chain's checkpoint is behind its head, and whether NATS and PostgreSQL answer.

Every part is read on its own and a failure is shown in its place: the command is for a
bad moment, so a dead NATS must not hide the lag, nor a dead endpoint the leases.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from breakglass.chain.endpoints import pool_members, resolve_endpoints
from breakglass.chain.pool import EndpointPool
from breakglass.cluster.connect import ClusterError, connect, masked
from breakglass.cluster.lease import LEASE_BUCKET, LeaseValue
from breakglass.errors import BreakglassError
from breakglass.plan.models import Plan

__all__ = ["ChainState", "ClusterStatus", "Holder", "read_status"]


@dataclass(frozen=True)
class Holder:
    """Who holds one lease (``owner`` ``None``: nobody, a standby would take it now)."""

    key: str
    owner: str | None = None
    token: int | None = None
    held_for: float | None = None
    """Seconds since this holder took it."""


@dataclass(frozen=True)
class ChainState:
    """One chain: its leader and how far its checkpoint is behind the head."""

    chain: str
    leader: Holder
    checkpoint: int | None = None
    head: int | None = None
    error: str | None = None

    @property
    def lag(self) -> int | None:
        """Blocks between the head and the checkpoint."""
        if self.head is None or self.checkpoint is None:
            return None
        return max(0, self.head - self.checkpoint)


@dataclass(frozen=True)
class ClusterStatus:
    """The whole picture; ``nats`` and ``postgres`` are ``"ok"`` or what went wrong."""

    nats: str
    postgres: str
    chains: list[ChainState] = field(default_factory=list)
    signers: list[Holder] = field(default_factory=list)
    roles: list[Holder] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """NATS and PostgreSQL answer, and every chain has a leader."""
        return (
            self.nats == "ok"
            and self.postgres == "ok"
            and all(c.leader.owner is not None for c in self.chains)
        )

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for chain, state in zip(body["chains"], self.chains, strict=True):
            chain["lag"] = state.lag
        body["healthy"] = self.healthy
        return body


async def read_status(
    *,
    plan: Plan,
    nats_url: str,
    sessions: Callable[[], Any],
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 3.0,
) -> ClusterStatus:
    """Read the leases from NATS, the checkpoints from the database and the heads from the
    plan's endpoints, each within ``timeout`` seconds."""
    keys = [f"chain.{c}" for c in sorted(plan.chains)]
    keys += [f"signer.{s}" for s in sorted(plan.signers)] + ["role.notify"]
    (nats, holders), (postgres, checkpoints), heads = await asyncio.gather(
        _leases(nats_url, keys, clock, timeout),
        asyncio.to_thread(_checkpoints, sessions, list(plan.chains)),
        _heads(plan, environ, timeout),
    )
    chains = []
    for name in sorted(plan.chains):
        head = heads.get(name)
        chains.append(
            ChainState(
                chain=name,
                leader=holders.get(f"chain.{name}", Holder(f"chain.{name}")),
                checkpoint=checkpoints.get(name),
                head=head if isinstance(head, int) else None,
                error=head if isinstance(head, str) else None,
            )
        )
    return ClusterStatus(
        nats=nats,
        postgres=postgres,
        chains=chains,
        signers=[holders.get(k, Holder(k)) for k in keys if k.startswith("signer.")],
        roles=[holders.get("role.notify", Holder("role.notify"))],
    )


async def _leases(
    url: str, keys: list[str], clock: Callable[[], float], timeout: float
) -> tuple[str, dict[str, Holder]]:
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError  # noqa: PLC0415

    try:
        client = await connect(url, name="breakglass cluster status", timeout=timeout)
    except ClusterError as exc:
        return str(exc), {}
    holders: dict[str, Holder] = {}
    try:
        kv = await asyncio.wait_for(client.jetstream().key_value(LEASE_BUCKET), timeout)
        for key in keys:
            try:
                entry = await asyncio.wait_for(kv.get(key), timeout)
            except KeyNotFoundError:
                continue
            value = LeaseValue.decode(entry.value)
            held_for = max(0.0, clock() - value.since) if value.since else None
            holders[key] = Holder(key, value.owner, entry.revision, held_for)
    except BucketNotFoundError:
        return "ok (no replica has started yet)", {}
    except Exception as exc:  # JetStream off, a timeout: said in place of the leases
        return f"NATS at {masked(url)}: {type(exc).__name__} {exc}"[:300], holders
    finally:
        await client.close()
    return "ok", holders


def _checkpoints(sessions: Callable[[], Any], chains: list[str]) -> tuple[str, dict[str, int]]:
    from breakglass import store  # noqa: PLC0415 - the service functions, not the tables

    found: dict[str, int] = {}
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
            for chain in chains:
                checkpoint = store.get_checkpoint(session, chain=chain)
                if checkpoint is not None:
                    found[chain] = checkpoint.block_number
    except SQLAlchemyError as exc:
        return f"database unreachable: {type(exc).__name__}", found
    return "ok", found


async def _heads(
    plan: Plan, environ: Mapping[str, str] | None, timeout: float
) -> dict[str, int | str]:
    async def head(name: str) -> int | str:
        try:
            config = plan.chains[name]
            pool = EndpointPool(pool_members(resolve_endpoints(config, environ, name=name)))
        except BreakglassError as exc:
            return str(exc)[:200]
        try:
            return int(await asyncio.wait_for(pool.request("eth_blockNumber"), timeout), 16)
        except (BreakglassError, TimeoutError, ValueError) as exc:
            return f"head unknown: {type(exc).__name__} {exc}"[:200]
        finally:
            await pool.aclose()

    names = sorted(plan.chains)
    return dict(zip(names, await asyncio.gather(*(head(n) for n in names)), strict=True))
