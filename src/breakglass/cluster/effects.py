"""Claiming a side effect once, whatever the number of replicas that reach it.

A replica claims an effect's idempotency key (e.g. ``pause:mainnet:pool:<alert>``) in the
database before carrying it out. The first claim wins; a second one, from a replica that got
the same event again or took over mid-way, is refused and that replica does nothing. A claim
also carries the fencing token of the lease the claimer holds; a claim with an older token
than one already recorded for that lease comes from a holder that lost it, and is refused
even for a new key.

The claim is one statement (``INSERT … SELECT … WHERE NOT EXISTS (a newer token) ON CONFLICT
DO NOTHING RETURNING``): it sits on a pause's path, so it costs one round trip, not a read of
the newest token followed by an insert.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from breakglass.store.models.cluster import SideEffect

__all__ = ["claim_effect", "finish_effect", "take_over_effect"]

_log = structlog.get_logger("breakglass.cluster")


def claim_effect(
    session: Session,
    *,
    key: str,
    kind: str,
    lease: str,
    token: int,
    holder: str,
    result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Claim ``key`` for this holder in the caller's transaction; ``True`` if it may act.

    ``result`` is recorded with the claim: for a transaction, its hash, nonce and signed raw
    bytes, written before the broadcast, so a holder that dies before the transaction lands
    leaves what the next holder must check instead of sending a second one.

    Refused (``False``) when the key was claimed already, or when ``token`` is older than the
    newest token recorded for ``lease`` (the claimer lost the lease since).
    """
    newer = exists().where(SideEffect.lease == lease, SideEffect.fencing_token > token)
    row = select(
        literal(key),
        literal(kind),
        literal(lease),
        literal(token),
        literal(holder),
        literal(now or datetime.now(UTC), SideEffect.claimed_at.type),
        literal(result, SideEffect.result.type),
    ).where(~newer)
    columns = ["key", "kind", "lease", "fencing_token", "holder", "claimed_at", "result"]
    statement = (
        insert(SideEffect)
        .from_select(columns, row)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(SideEffect.id)
    )
    if session.scalar(statement) is not None:
        return True
    _why_refused(session, key=key, lease=lease, token=token, holder=holder)
    return False


def _why_refused(session: Session, *, key: str, lease: str, token: int, holder: str) -> None:
    """Log why a claim was refused (off the hot path: only a refusal pays this read)."""
    newest = session.scalar(
        select(func.max(SideEffect.fencing_token)).where(SideEffect.lease == lease)
    )
    if newest is not None and token < newest:
        _log.error("cluster.stale_fencing_token", key=key, lease=lease, fence=token, newest=newest)
    else:
        _log.info("cluster.effect_claimed_elsewhere", key=key, holder=holder)


def take_over_effect(
    session: Session,
    *,
    key: str,
    previous: tuple[str, int],
    holder: str,
    token: int,
    result: dict[str, Any] | None,
) -> bool:
    """Move the unfinished claim ``key`` from ``previous`` (its holder and token) to this
    holder, if nobody moved it first (compare-and-swap); ``True`` if it is now ours."""
    moved = session.execute(
        update(SideEffect)
        .where(
            SideEffect.key == key,
            SideEffect.holder == previous[0],
            SideEffect.fencing_token == previous[1],
            SideEffect.done_at.is_(None),
        )
        .values(holder=holder, fencing_token=token, result=result)
    )
    return bool(getattr(moved, "rowcount", 0))


def finish_effect(
    session: Session, *, key: str, result: dict[str, Any], now: datetime | None = None
) -> None:
    """Record what the claimed effect ``key`` did (e.g. its transaction hash)."""
    session.execute(
        update(SideEffect)
        .where(SideEffect.key == key)
        .values(done_at=now or datetime.now(UTC), result=result)
    )
