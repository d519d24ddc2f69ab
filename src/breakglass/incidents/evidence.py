"""Evidence of an incident: affected addresses, fund movements and what is known about the
attacker. Amounts are exact decimal strings; a float is refused, it would lose digits.

Each row says where it came from (``provenance``): ``person`` for what someone entered or
changed, ``analysis`` for what :func:`replace_analysed_evidence` wrote. A re-analysis
replaces only its own rows: what people entered is never deleted by it, and a row a person
changed (an address's status, a movement's recovery) becomes theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from breakglass.incidents.errors import IncidentError
from breakglass.incidents.lifecycle import choice
from breakglass.incidents.service import get_incident
from breakglass.incidents.timeline import utcnow
from breakglass.store.models import AffectedAddress, AttackerRecord, FundMovement

__all__ = [
    "ANALYSIS",
    "PERSON",
    "AddressStatus",
    "AnalysedAddress",
    "AnalysedAttacker",
    "AnalysedMovement",
    "AttackerKind",
    "DestinationKind",
    "RecoveryStatus",
    "add_attacker_record",
    "add_fund_movement",
    "affected_addresses",
    "attacker_records",
    "fund_movements",
    "replace_analysed_evidence",
    "set_address_status",
    "set_funds_at_risk",
    "set_recovery_status",
]


PERSON = "person"
ANALYSIS = "analysis"


class AddressStatus(StrEnum):
    AT_RISK = "at-risk"
    IMPACTED = "impacted"
    PAUSED = "paused"
    SAVED = "saved"
    NEEDS_REVIEW = "needs-review"
    UNCERTAIN = "uncertain"


class DestinationKind(StrEnum):
    EXCHANGE = "exchange"
    BRIDGE = "bridge"
    MIXER = "mixer"
    UNKNOWN = "unknown"


class RecoveryStatus(StrEnum):
    NOT_RECOVERED = "not-recovered"
    FROZEN = "frozen"
    PARTIAL = "partial"
    RECOVERED = "recovered"
    LOST = "lost"


class AttackerKind(StrEnum):
    ADDRESS = "address"
    CONTRACT = "contract"
    FUNDING = "funding"
    TAG = "tag"
    OTHER = "other"


def set_address_status(
    session: Session,
    incident_id: int,
    chain: str,
    address: str,
    status: str,
    *,
    note: str = "",
    at: datetime | None = None,
) -> AffectedAddress:
    """Record (or update) an affected address and its status; addresses are lowercased."""
    get_incident(session, incident_id)
    choice(status, AddressStatus, "address status")
    key = address.lower()
    row = session.scalars(
        select(AffectedAddress).where(
            AffectedAddress.incident_id == incident_id,
            AffectedAddress.chain == chain,
            AffectedAddress.address == key,
        )
    ).first()
    if row is None:
        row = AffectedAddress(
            incident_id=incident_id, chain=chain, address=key, note=note, provenance=PERSON
        )
        session.add(row)
    row.status = status
    row.provenance = PERSON
    if note:
        row.note = note
    row.updated_at = at or utcnow()
    session.flush()
    return row


def affected_addresses(session: Session, incident_id: int) -> list[AffectedAddress]:
    """The incident's affected addresses, in the order they were recorded."""
    query = select(AffectedAddress).where(AffectedAddress.incident_id == incident_id)
    return list(session.scalars(query.order_by(AffectedAddress.id)))


def _amount(value: str | int | Decimal) -> str:
    if isinstance(value, float):
        raise IncidentError(f"amount {value!r} is a float; pass a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise IncidentError(f"amount {value!r} is not a decimal number") from None
    if not amount.is_finite() or amount < 0:
        raise IncidentError(f"amount {value!r} must be a finite, non-negative number")
    return format(amount, "f")


def add_fund_movement(
    session: Session,
    incident_id: int,
    *,
    chain: str,
    origin: str,
    tx_hash: str,
    asset: str,
    amount: str | int | Decimal,
    destination: str,
    destination_kind: str = "unknown",
    recovery_status: str = "not-recovered",
    usd_value: float | None = None,
) -> FundMovement:
    """Record funds that moved: from ``origin`` to ``destination`` in ``tx_hash``."""
    get_incident(session, incident_id)
    choice(destination_kind, DestinationKind, "destination kind")
    choice(recovery_status, RecoveryStatus, "recovery status")
    row = FundMovement(
        incident_id=incident_id,
        chain=chain,
        origin=origin.lower(),
        tx_hash=tx_hash,
        asset=asset,
        amount=_amount(amount),
        destination=destination.lower(),
        destination_kind=destination_kind,
        recovery_status=recovery_status,
        usd_value=usd_value,
        provenance=PERSON,
    )
    session.add(row)
    session.flush()
    return row


def set_recovery_status(session: Session, movement_id: int, status: str) -> FundMovement:
    """Update how much of a fund movement came back."""
    choice(status, RecoveryStatus, "recovery status")
    row = session.get(FundMovement, movement_id)
    if row is None:
        raise IncidentError(f"no fund movement #{movement_id}")
    row.recovery_status = status
    row.provenance = PERSON
    session.flush()
    return row


def fund_movements(session: Session, incident_id: int) -> list[FundMovement]:
    """The incident's fund movements, in the order they were recorded."""
    query = select(FundMovement).where(FundMovement.incident_id == incident_id)
    return list(session.scalars(query.order_by(FundMovement.id)))


def add_attacker_record(
    session: Session, incident_id: int, kind: str, value: str, *, note: str = ""
) -> AttackerRecord:
    """Record something known about the attacker (an address, contract, funding source…)."""
    get_incident(session, incident_id)
    choice(kind, AttackerKind, "attacker record kind")
    row = AttackerRecord(
        incident_id=incident_id, kind=kind, value=value, note=note, provenance=PERSON
    )
    session.add(row)
    session.flush()
    return row


def attacker_records(session: Session, incident_id: int) -> list[AttackerRecord]:
    """What is known about the attacker, in the order it was recorded."""
    query = select(AttackerRecord).where(AttackerRecord.incident_id == incident_id)
    return list(session.scalars(query.order_by(AttackerRecord.id)))


def set_funds_at_risk(session: Session, incident_id: int, usd: float | None) -> None:
    """Set the incident's estimate of funds at risk, in USD (what ``engage_if`` reads)."""
    if usd is not None and usd < 0:
        raise IncidentError("funds at risk cannot be negative")
    get_incident(session, incident_id).funds_at_risk_usd = usd
    session.flush()


@dataclass(frozen=True)
class AnalysedAttacker:
    kind: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class AnalysedMovement:
    chain: str
    origin: str
    tx_hash: str
    asset: str
    amount: str | int | Decimal
    destination: str
    destination_kind: str = "unknown"


@dataclass(frozen=True)
class AnalysedAddress:
    chain: str
    address: str
    status: str
    note: str = ""


def replace_analysed_evidence(
    session: Session,
    incident_id: int,
    *,
    attackers: Sequence[AnalysedAttacker],
    movements: Sequence[AnalysedMovement],
    affected: Sequence[AnalysedAddress],
    at: datetime | None = None,
) -> None:
    """Replace what an earlier analysis wrote with this one's findings; rows people entered
    stay, and an analysed row that repeats one of theirs is not added beside it.

    Raises:
        IncidentError: there is no such incident, or a kind, status or amount is invalid.
    """
    get_incident(session, incident_id)
    for model in (AttackerRecord, FundMovement, AffectedAddress):
        session.execute(
            delete(model).where(model.incident_id == incident_id, model.provenance == ANALYSIS)
        )
    kept_attackers = {(r.kind, r.value.lower()) for r in attacker_records(session, incident_id)}
    for attacker in attackers:
        choice(attacker.kind, AttackerKind, "attacker record kind")
        if (attacker.kind, attacker.value.lower()) in kept_attackers:
            continue
        kept_attackers.add((attacker.kind, attacker.value.lower()))
        session.add(
            AttackerRecord(
                incident_id=incident_id,
                kind=attacker.kind,
                value=attacker.value,
                note=attacker.note,
                provenance=ANALYSIS,
            )
        )
    kept_moves = {
        _move_key(m.chain, m.tx_hash, m.asset, m.origin, m.destination)
        for m in fund_movements(session, incident_id)
    }
    for move in movements:
        key = _move_key(move.chain, move.tx_hash, move.asset, move.origin, move.destination)
        if key in kept_moves:
            continue
        session.add(
            FundMovement(
                incident_id=incident_id,
                chain=move.chain,
                origin=move.origin.lower(),
                tx_hash=move.tx_hash,
                asset=move.asset,
                amount=_amount(move.amount),
                destination=move.destination.lower(),
                destination_kind=move.destination_kind,
                recovery_status=str(RecoveryStatus.NOT_RECOVERED),
                provenance=ANALYSIS,
            )
        )
    kept_addresses = {(r.chain, r.address) for r in affected_addresses(session, incident_id)}
    for row in affected:
        choice(row.status, AddressStatus, "address status")
        key = (row.chain, row.address.lower())
        if key in kept_addresses:  # a person's word on an address outranks an analysis
            continue
        kept_addresses.add(key)
        session.add(
            AffectedAddress(
                incident_id=incident_id,
                chain=row.chain,
                address=row.address.lower(),
                status=row.status,
                note=row.note,
                updated_at=at or utcnow(),
                provenance=ANALYSIS,
            )
        )
    session.flush()


def _move_key(
    chain: str, tx_hash: str, asset: str, origin: str, destination: str
) -> tuple[str, ...]:
    return (chain, tx_hash.lower(), asset.lower(), origin.lower(), destination.lower())
