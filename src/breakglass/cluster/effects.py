"""Claiming a side effect once, whatever the number of replicas that reach it.

A replica claims an effect's idempotency key (e.g. ``pause:mainnet:pool:<alert>``) in the
database before carrying it out. The first claim wins; a second one, from a replica that got
the same event again or took over mid-way, is refused and that replica does nothing. A claim
also carries the fencing token of the lease the claimer holds; a claim with an older token
than one already recorded for that lease comes from a holder that lost it, and is refused
even for a new key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from breakglass.store.models.cluster import SideEffect

__all__ = ["claim_effect", "finish_effect"]

_log = structlog.get_logger("breakglass.cluster")


def claim_effect(
    session: Session,
    *,
    key: str,
    kind: str,
    lease: str,
    token: int,
    holder: str,
    now: datetime | None = None,
) -> bool:
    """Claim ``key`` for this holder in the caller's transaction; ``True`` if it may act.

    Refused (``False``) when the key was claimed already, or when ``token`` is older than the
    newest token recorded for ``lease`` (the claimer lost the lease since).
    """
    newest = session.scalar(
        select(func.max(SideEffect.fencing_token)).where(SideEffect.lease == lease)
    )
    if newest is not None and token < newest:
        _log.error("cluster.stale_fencing_token", key=key, lease=lease, token=token, newest=newest)
        return False
    try:
        with session.begin_nested():
            session.add(
                SideEffect(
                    key=key,
                    kind=kind,
                    lease=lease,
                    fencing_token=token,
                    holder=holder,
                    claimed_at=now or datetime.now(UTC),
                )
            )
    except IntegrityError:
        _log.info("cluster.effect_claimed_elsewhere", key=key, holder=holder)
        return False
    return True


def finish_effect(
    session: Session, *, key: str, result: dict[str, Any], now: datetime | None = None
) -> None:
    """Record what the claimed effect ``key`` did (e.g. its transaction hash)."""
    session.execute(
        update(SideEffect)
        .where(SideEffect.key == key)
        .values(done_at=now or datetime.now(UTC), result=result)
    )
