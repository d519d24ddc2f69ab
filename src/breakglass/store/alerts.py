"""Alert and incident-candidate operations: plain functions, session first, keyword-only.

Like :mod:`breakglass.store.service` they flush but never commit. One writer per chain is
assumed (the chain's block stream): two writers recording the same new dedupe key at once
would make one of them fail on the unique constraint rather than double-record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from breakglass.store.models import AlertRecord, IncidentCandidate

__all__ = [
    "AlertOutcome",
    "AlertStatus",
    "NewAlert",
    "alerts_of_candidate",
    "list_alerts",
    "list_incident_candidates",
    "live_alert_stages",
    "merge_incident_candidates",
    "open_incident_candidate",
    "record_alert",
    "related_incident_candidates",
    "retract_alerts",
]


class AlertStatus(StrEnum):
    OPEN = "open"
    SUPPRESSED = "suppressed"
    RETRACTED = "retracted"


class AlertOutcome(StrEnum):
    """What :func:`record_alert` did: only ``NEW`` alerts page."""

    NEW = "new"
    SUPPRESSED = "suppressed"
    REPEAT = "repeat"


@dataclass(frozen=True)
class NewAlert:
    """An alert's content before it is stored; ``group_key`` names its suppression group."""

    dedupe_key: str
    group_key: str
    rule: str
    kind: str
    chain: str
    block_number: int
    block_hash: str
    block_time: datetime
    severity: str
    confidence: str
    title: str
    description: str
    tx_hash: str | None = None
    log_index: int | None = None
    stage: str | None = None
    addresses: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def record_alert(
    session: Session,
    *,
    alert: NewAlert,
    suppress_for: timedelta,
    now: datetime,
    episode_start: int | None = None,
) -> tuple[AlertRecord, AlertOutcome]:
    """Store ``alert`` once per dedupe key.

    A key already stored only gets ``count`` and ``last_seen`` bumped (``REPEAT``), so a block
    delivered again after a crash records nothing new. A retracted alert whose transaction a
    reorg put in another block is reopened there. A new alert is ``SUPPRESSED`` when an open
    alert of its group lies within ``suppress_for`` of it in block time, and not before the
    block ``episode_start`` (alerts of an earlier episode never suppress a later one's), else
    ``NEW``.
    """
    row = session.scalars(
        select(AlertRecord).where(AlertRecord.dedupe_key == alert.dedupe_key)
    ).first()
    if row is not None and row.status != AlertStatus.RETRACTED:
        row.count += 1
        row.last_seen = now
        session.flush()
        return row, AlertOutcome.REPEAT
    suppressed = _group_paged(
        session, alert.group_key, alert.block_time, suppress_for, episode_start
    )
    status = AlertStatus.SUPPRESSED if suppressed else AlertStatus.OPEN
    if row is None:
        row = AlertRecord(
            dedupe_key=alert.dedupe_key,
            count=1,
            first_seen=now,
            incident_candidate_id=None,
        )
        session.add(row)
    else:
        row.count += 1
    for column in fields(alert):
        setattr(row, column.name, getattr(alert, column.name))
    row.addresses = list(alert.addresses)
    row.data = dict(alert.data)
    row.last_seen = now
    row.status = status
    session.flush()
    return row, AlertOutcome.SUPPRESSED if suppressed else AlertOutcome.NEW


def _group_paged(
    session: Session, group_key: str, at: datetime, window: timedelta, since: int | None
) -> bool:
    query = (
        select(AlertRecord.id)
        .where(
            AlertRecord.group_key == group_key,
            AlertRecord.status == AlertStatus.OPEN,
            AlertRecord.block_time > at - window,
            AlertRecord.block_time < at + window,
        )
        .limit(1)
    )
    if since is not None:
        query = query.where(AlertRecord.block_number >= since)
    return session.scalars(query).first() is not None


def retract_alerts(session: Session, *, chain: str, block_hash: str) -> list[AlertRecord]:
    """Mark the live alerts raised on an orphaned block ``retracted``; returns them."""
    rows = list(
        session.scalars(
            select(AlertRecord).where(
                AlertRecord.chain == chain,
                AlertRecord.block_hash == block_hash,
                AlertRecord.status != AlertStatus.RETRACTED,
            )
        )
    )
    for row in rows:
        row.status = AlertStatus.RETRACTED
    session.flush()
    return rows


def list_alerts(
    session: Session, *, chain: str | None = None, status: AlertStatus | None = None
) -> list[AlertRecord]:
    """Alerts, oldest first, optionally of one chain and status."""
    query = select(AlertRecord).order_by(AlertRecord.id)
    if chain is not None:
        query = query.where(AlertRecord.chain == chain)
    if status is not None:
        query = query.where(AlertRecord.status == status)
    return list(session.scalars(query))


def list_incident_candidates(
    session: Session, *, chain: str | None = None
) -> list[IncidentCandidate]:
    """Incident candidates, oldest first."""
    query = select(IncidentCandidate).order_by(IncidentCandidate.id)
    if chain is not None:
        query = query.where(IncidentCandidate.chain == chain)
    return list(session.scalars(query))


def alerts_of_candidate(session: Session, *, candidate_id: int) -> list[AlertRecord]:
    """Every alert correlated into the candidate, retracted ones included."""
    query = select(AlertRecord).where(AlertRecord.incident_candidate_id == candidate_id)
    return list(session.scalars(query.order_by(AlertRecord.id)))


def related_incident_candidates(
    session: Session,
    *,
    chain: str,
    tx_hashes: Iterable[str],
    addresses: Iterable[str],
    since: datetime,
) -> list[IncidentCandidate]:
    """Candidates with a live alert since ``since`` that shares a transaction or an address.

    Addresses are compared in Python: JSON containment is spelled differently per backend,
    and the window keeps the rows few.
    """
    wanted, txs = set(addresses), set(tx_hashes)
    query = select(
        AlertRecord.incident_candidate_id, AlertRecord.tx_hash, AlertRecord.addresses
    ).where(
        AlertRecord.chain == chain,
        AlertRecord.incident_candidate_id.is_not(None),
        AlertRecord.status != AlertStatus.RETRACTED,
        AlertRecord.block_time >= since,
    )
    ids = {
        candidate_id
        for candidate_id, tx_hash, involved in session.execute(query)
        if tx_hash in txs or wanted.intersection(involved)
    }
    if not ids:
        return []
    found = select(IncidentCandidate).where(IncidentCandidate.id.in_(ids))
    return list(session.scalars(found.order_by(IncidentCandidate.id)))


def live_alert_stages(session: Session, *, candidate_id: int) -> list[str | None]:
    """The attack stage of each live (not retracted) alert of the candidate."""
    query = select(AlertRecord.stage).where(
        AlertRecord.incident_candidate_id == candidate_id,
        AlertRecord.status != AlertStatus.RETRACTED,
    )
    return list(session.scalars(query))


def open_incident_candidate(
    session: Session, *, chain: str, key: str, now: datetime
) -> IncidentCandidate:
    """A new candidate without evidence yet."""
    candidate = IncidentCandidate(chain=chain, key=key, opened_at=now, confidence=0.0, stages=[])
    session.add(candidate)
    session.flush()
    return candidate


def merge_incident_candidates(
    session: Session, *, into: IncidentCandidate, others: Iterable[IncidentCandidate]
) -> None:
    """Move the alerts of ``others`` to ``into`` and delete ``others``."""
    for other in others:
        if other.id == into.id:
            continue
        session.execute(
            update(AlertRecord)
            .where(AlertRecord.incident_candidate_id == other.id)
            .values(incident_candidate_id=into.id)
            .execution_options(synchronize_session="fetch")
        )
        session.delete(other)
    session.flush()
