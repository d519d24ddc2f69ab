"""What a transaction of a playbook run must pass in scale-out mode before it is broadcast.

Two checks, in this order, immediately before every broadcast (replacements included):

1. the signer's lease (``signer.<name>``) is held by this process: :meth:`Lease.fence`
   gives its fencing token, or the send is refused. A replica that was partitioned from
   NATS, or paused long enough for a standby to take the key, sends nothing, and only the
   lease holder ever reserves the key's nonces;
2. the effect's idempotency key is claimed in the database under that token
   (:func:`~breakglass.cluster.effects.claim_effect`), with the signed transaction (hash,
   nonce, raw bytes) recorded in the same statement, before it goes out. The key is the
   alert's dedupe key, the playbook and the step's call (target and calldata digest): a
   replica that took over and sees the same exploit again finds the key claimed and sends
   nothing.

A key claimed under an older token of the same lease, never finished, is a holder that died
between its claim and its transaction's landing. The new holder asks the chain about the
recorded transaction first: pending or mined, it sends nothing (a second pause would race
the first for nothing); dropped, it rebroadcasts the same raw transaction and sends nothing
new; only when that one can no longer land (its nonce went to another transaction) does it
take the claim over and send its own, because a pause that never goes out is worse than one
that finds the contract paused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import structlog
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.errors import RpcError
from breakglass.cluster.effects import claim_effect, take_over_effect
from breakglass.cluster.lease import Lease, LeaseLost
from breakglass.respond.nonces import Rpc
from breakglass.respond.sender import PreparedTx, SendError, SendGuard, already_known
from breakglass.store.models.cluster import SideEffect

__all__ = ["EffectGuard", "effect_key"]

_log = structlog.get_logger("breakglass.cluster")

_T = TypeVar("_T")


def effect_key(*, chain: str, trigger: str, playbook: str, tx: PreparedTx) -> str:
    """The idempotency key of a playbook step's transaction: stable across replicas, and
    across re-signing (fees and nonce are not part of it)."""
    digest = hashlib.sha256(tx.data).hexdigest()[:16]
    return f"tx:{chain}:{playbook}:{trigger}:{tx.to.lower()}:{digest}"


class EffectGuard:
    """Builds the :data:`~breakglass.respond.sender.send_guard` of each playbook run.

    Args:
        sessions: the PostgreSQL database where effects are claimed.
        chain: the chain whose responder this guards.
        rpc: that chain's endpoints, asked about a dead holder's recorded transaction.
        leases: the lease of each signer, by the signer's address (any case).
        holder: who this process is (as in its leases).
        patience: seconds a send waits for the signer's lease to be held before refusing.
        db_patience: seconds a send retries a database that does not answer (a restart, a
            failover) before refusing: a pause is not sent blind, another replica may have
            sent it.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        chain: str,
        rpc: Rpc,
        leases: Mapping[str, Lease],
        holder: str,
        patience: float = 0.5,
        db_patience: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.rpc = rpc
        self.leases = {address.lower(): lease for address, lease in leases.items()}
        self.holder = holder
        self.patience = patience
        self.db_patience = db_patience
        self.refused: list[str] = []

    def __call__(self, trigger: str, playbook: str) -> SendGuard:
        async def guard(address: str, tx: PreparedTx) -> None:
            lease = self.leases.get(address.lower())
            if lease is None:
                raise self._refuse(f"signer {address} has no lease in this replica")
            token = await self._fence(lease, wait=self.patience)
            key = effect_key(chain=self.chain, trigger=trigger, playbook=playbook, tx=tx)
            record = {
                "tx_hash": tx.tx_hash,
                "nonce": tx.nonce,
                "raw": "0x" + tx.raw.hex(),
                "holder": self.holder,
            }
            if not await self._db(lease, self._claim, key, lease.key, token, record):
                await self._settle(key, lease, token, record)
            await self._fence(lease)  # the claim took a round trip: still ours?

        return guard

    async def _fence(self, lease: Lease, *, wait: float = 0.0) -> int:
        """The lease's token; waits up to ``wait`` seconds for a lease being taken (a new
        leader's signer lease may come a moment after its chain's)."""
        deadline = time.monotonic() + wait
        while not lease.held() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            return lease.fence()
        except LeaseLost as exc:
            raise self._refuse(f"{exc}; sending nothing") from None

    async def _db(self, lease: Lease, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)`` in a worker thread, tried again while the database does not answer
        (up to ``db_patience`` seconds, the lease checked between tries). A claim is safe to
        repeat: one that committed before its answer was lost reads as our own."""
        deadline = time.monotonic() + self.db_patience
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except (OperationalError, InterfaceError) as exc:
                reason = str(exc.orig or exc).strip().splitlines()[0][:200]
                if time.monotonic() >= deadline:
                    raise self._refuse(
                        f"the database cannot record the send ({reason}); sending nothing, "
                        "as another replica may have sent it"
                    ) from None
                _log.warning("cluster.claim_retry", chain=self.chain, reason=reason)
            await asyncio.sleep(0.2)
            await self._fence(lease)

    def _refuse(self, why: str) -> SendError:
        self.refused.append(why)
        _log.error("cluster.send_refused", chain=self.chain, reason=why)
        return SendError(why)

    def _claim(self, key: str, lease: str, token: int, record: dict[str, Any]) -> bool:
        """The hot path: one statement, committed as it runs (no BEGIN and COMMIT trips)."""
        with self.sessions() as session:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return claim_effect(
                session,
                key=key,
                kind="transaction",
                lease=lease,
                token=token,
                holder=self.holder,
                result=record,
            )

    async def _settle(self, key: str, lease: Lease, token: int, record: dict[str, Any]) -> None:
        """A refused claim: go on for a replacement of our own transaction (or our own claim
        whose answer was lost) or a dead holder's claim whose transaction can no longer land;
        raise otherwise."""
        row = await self._db(lease, self._row, key)
        if row is None:
            raise self._refuse(f"{key} could not be claimed")
        holder, previous_token, done, row_lease, previous = row
        if holder == self.holder and previous_token == token:  # a replacement: record it
            await self._db(lease, self._move, key, (holder, token), token, record)
            return
        if done or row_lease != lease.key or previous_token >= token:
            raise self._refuse(f"{key} was carried out by another replica")
        fate = await self._previous_fate(previous)
        if fate is not None:
            raise self._refuse(
                f"{key}: {holder} died after sending {previous.get('tx_hash')} "
                f"(nonce {previous.get('nonce')}), {fate}; sending no second transaction"
            )
        if not await self._db(lease, self._move, key, (holder, previous_token), token, record):
            raise self._refuse(f"{key} was taken over by another replica")
        _log.warning("cluster.effect_taken_over", key=key, previous=holder, fence=token)

    def _row(self, key: str) -> tuple[str, int, bool, str, dict[str, Any]] | None:
        with self.sessions() as session:
            row = session.scalar(select(SideEffect).where(SideEffect.key == key))
            if row is None:
                return None
            done = row.done_at is not None
            return row.holder, row.fencing_token, done, row.lease, dict(row.result or {})

    def _move(
        self, key: str, previous: tuple[str, int], token: int, record: dict[str, Any]
    ) -> bool:
        with self.sessions() as session, session.begin():
            return take_over_effect(
                session, key=key, previous=previous, holder=self.holder, token=token, result=record
            )

    async def _previous_fate(self, previous: dict[str, Any]) -> str | None:
        """What became of a dead holder's recorded transaction: ``None`` if it can no longer
        land (none recorded, or dropped and refused again), else where it is now.

        Raises:
            SendError: the chain cannot be asked (sending could make a second pause).
        """
        tx_hash, raw = previous.get("tx_hash"), previous.get("raw")
        if not tx_hash:
            return None
        try:
            found = await self.rpc.request("eth_getTransactionByHash", [tx_hash])
        except RpcError as exc:
            raise self._refuse(f"cannot check {tx_hash} on {self.chain}: {exc.message}") from None
        if found:
            block = found.get("blockNumber")
            return f"mined in block {int(block, 16)}" if block else "still pending"
        if not raw:
            return None
        try:
            await self.rpc.request("eth_sendRawTransaction", [raw])
        except RpcError as exc:
            if already_known(exc):
                return "still pending"
            _log.warning("cluster.rebroadcast_refused", tx=tx_hash, reason=exc.message[:200])
            return None
        _log.warning("cluster.rebroadcast", tx=tx_hash, nonce=previous.get("nonce"))
        return "dropped and broadcast again"
