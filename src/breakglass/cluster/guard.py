"""What a transaction of a playbook run must pass in scale-out mode before it is broadcast.

Two checks, in this order, immediately before every broadcast (replacements included):

1. the signer's lease (``signer.<name>``) is held by this process: :meth:`Lease.fence`
   gives its fencing token, or the send is refused. A replica that was partitioned from
   NATS, or paused long enough for a standby to take the key, sends nothing, and only the
   lease holder ever reserves the key's nonces;
2. the effect's idempotency key is claimed in the database under that token
   (:func:`~breakglass.cluster.effects.claim_effect`). The key is the alert's dedupe key, the
   playbook and the step's call (target and calldata digest): a replica that took over and
   sees the same exploit again finds the key claimed and sends nothing.

A key claimed under an older token of the same lease (its holder died between the claim
and the transaction's landing) is taken over by the new holder: the playbook's precheck ran
just before and said the contract is not yet paused, and a pause that never goes out is
worse than a second one that finds the contract paused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from breakglass.cluster.effects import claim_effect
from breakglass.cluster.lease import Lease, LeaseLost
from breakglass.respond.sender import PreparedTx, SendError, SendGuard
from breakglass.store.models.cluster import SideEffect

__all__ = ["EffectGuard", "effect_key"]

_log = structlog.get_logger("breakglass.cluster")


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
        leases: the lease of each signer, by the signer's address (any case).
        holder: who this process is (as in its leases).
        patience: seconds a send waits for the signer's lease to be held before refusing.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        chain: str,
        leases: Mapping[str, Lease],
        holder: str,
        patience: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.leases = {address.lower(): lease for address, lease in leases.items()}
        self.holder = holder
        self.patience = patience
        self.refused: list[str] = []

    def __call__(self, trigger: str, playbook: str) -> SendGuard:
        async def guard(address: str, tx: PreparedTx) -> None:
            lease = self.leases.get(address.lower())
            if lease is None:
                raise self._refuse(f"signer {address} has no lease in this replica")
            token = await self._fence(lease, wait=self.patience)
            key = effect_key(chain=self.chain, trigger=trigger, playbook=playbook, tx=tx)
            if not await asyncio.to_thread(self._claim, key, lease, token, tx):
                raise self._refuse(f"{key} was carried out by another replica")
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

    def _refuse(self, why: str) -> SendError:
        self.refused.append(why)
        _log.error("cluster.send_refused", chain=self.chain, reason=why)
        return SendError(why)

    def _claim(self, key: str, lease: Lease, token: int, tx: PreparedTx) -> bool:
        with self.sessions() as session, session.begin():
            won = claim_effect(
                session,
                key=key,
                kind="transaction",
                lease=lease.key,
                token=token,
                holder=self.holder,
            )
            if not won:
                won = self._ours_or_orphaned(session, key, lease, token)
            if won:  # which transaction (not done: it is not mined yet)
                result = {"tx_hash": tx.tx_hash, "nonce": tx.nonce, "holder": self.holder}
                session.execute(
                    update(SideEffect).where(SideEffect.key == key).values(result=result)
                )
            return won

    def _ours_or_orphaned(self, session: Session, key: str, lease: Lease, token: int) -> bool:
        """A replacement of our own transaction, or a claim whose holder died before it
        recorded one (taken over under the newer token)."""
        row = session.scalar(select(SideEffect).where(SideEffect.key == key).with_for_update())
        if row is None:
            return False
        if row.holder == self.holder and row.fencing_token == token:
            return True
        if row.done_at is None and row.lease == lease.key and row.fencing_token < token:
            session.execute(
                update(SideEffect)
                .where(SideEffect.key == key)
                .values(holder=self.holder, fencing_token=token)
            )
            _log.warning("cluster.effect_taken_over", key=key, previous=row.holder)
            return True
        return False
