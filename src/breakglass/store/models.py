"""Database tables, as SQLAlchemy 2 typed declarative models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "AffectedAddress",
    "AlertRecord",
    "ApiToken",
    "AttackerRecord",
    "Base",
    "CanonicalBlock",
    "Checkpoint",
    "Delivery",
    "Distribution",
    "Drill",
    "FundMovement",
    "Incident",
    "IncidentAlert",
    "IncidentCandidate",
    "IncidentRun",
    "Page",
    "PlanRevision",
    "PlaybookRun",
    "Postmortem",
    "PublicUpdate",
    "RoleAssignment",
    "SafeProposal",
    "SafeSignature",
    "StepEvent",
    "StepRun",
    "Task",
    "TimelineEvent",
    "UTCDateTime",
    "UserLoss",
]

# Explicit constraint names keep migrations identical on SQLite and Postgres, and let batch
# migrations on SQLite find constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored and returned in UTC on every backend.

    SQLite has no time zones: it would drop the offset of an aware datetime and return naive
    ones. Normalising to UTC on the way in and tagging UTC on the way out hides that.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous; refusing it beats storing the wrong instant.
            raise TypeError(f"naive datetime {value.isoformat()} given; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model; owns the metadata the migrations are checked against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PlanRevision(Base):
    """A version of a protocol's plan that was loaded, identified by its content hash."""

    __tablename__ = "plan_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    """Per chain, the last block that downstream stages acknowledged."""

    __tablename__ = "checkpoints"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CanonicalBlock(Base):
    """The recent canonical chain as delivered downstream, kept to the reorg depth.

    Written in the same transaction as the checkpoint, so after a crash the stream knows
    exactly which blocks it delivered and can retract them if a reorg orphaned them.
    """

    __tablename__ = "canonical_blocks"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IncidentCandidate(Base):
    """Alerts that look like one incident: shared addresses, transaction or contract.

    ``stages`` are the attack stages its live alerts show (funding, preparation,
    exploitation, laundering); ``confidence`` grows with how many distinct ones there are.
    """

    __tablename__ = "incident_candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key: Mapped[str] = mapped_column(String)
    confidence: Mapped[float] = mapped_column(Float)
    stages: Mapped[list[str]] = mapped_column(JSON)


class AlertRecord(Base):
    """A finding kept once per ``dedupe_key``; seeing it again only bumps ``count``.

    ``status`` is ``open`` (it paged), ``suppressed`` (its group already paged within the
    suppression window) or ``retracted`` (its block was orphaned by a reorg; kept, not deleted).
    ``block_time`` is the block's timestamp: suppression and correlation windows are measured
    in chain time, so a replay groups alerts exactly as the live run did.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String, unique=True)
    group_key: Mapped[str] = mapped_column(String, index=True)
    rule: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    stage: Mapped[str | None] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66), index=True)
    block_time: Mapped[datetime] = mapped_column(UTCDateTime)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    log_index: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(String)
    addresses: Mapped[list[str]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    incident_candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_candidates.id"), index=True
    )


class PlaybookRun(Base):
    """One run of a playbook: what triggered it and how it ended.

    ``status`` is ``running``, ``waiting`` (a step waits for an approval, a person or Safe
    signatures), ``succeeded`` or ``failed``. A dry run happened on a throwaway fork.
    """

    __tablename__ = "playbook_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    playbook: Mapped[str] = mapped_column(String)
    chain: Mapped[str | None] = mapped_column(String)
    trigger: Mapped[str] = mapped_column(String)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    parent_step_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StepRun(Base):
    """One step of a playbook run, with the outcome of its precheck → verify path."""

    __tablename__ = "step_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(24))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    error: Mapped[str | None] = mapped_column(String)
    decided_by: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StepEvent(Base):
    """A timestamped phase of a step (precheck, simulate, broadcast, …), for the timeline."""

    __tablename__ = "step_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("step_runs.id"), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SafeProposal(Base):
    """A Safe transaction breakglass built, and where its signature collection stands.

    ``status`` is ``collecting`` (under threshold), ``executed`` or ``failed``.
    """

    __tablename__ = "safe_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String)
    safe_tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("step_runs.id"), index=True)
    tx: Mapped[dict[str, Any]] = mapped_column(JSON)
    threshold: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    executed_tx: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SafeSignature(Base):
    """One owner's signature of a :class:`SafeProposal`."""

    __tablename__ = "safe_signatures"
    __table_args__ = (UniqueConstraint("proposal_id", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("safe_proposals.id"), index=True)
    owner: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(String)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Incident(Base):
    """An incident: what happened, how bad, where it stands, and its milestones.

    ``severity`` is P1 (worst) … P5; ``status`` follows the lifecycle table in
    :mod:`breakglass.incidents.lifecycle`. Milestone times give the times to detect,
    acknowledge, contain and resolve.
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(24), index=True)
    chains: Mapped[list[str]] = mapped_column(JSON)
    contracts: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String, default="")
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    funds_at_risk_usd: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IncidentAlert(Base):
    """An alert attached to an incident (it opened it, or correlated with it)."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("alert_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IncidentRun(Base):
    """A playbook run carried out for an incident."""

    __tablename__ = "incident_runs"
    __table_args__ = (UniqueConstraint("run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id"))


class RoleAssignment(Base):
    """Who held an incident role, from when until when (``released_at`` null: still)."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    role: Mapped[str] = mapped_column(String)
    person: Mapped[str] = mapped_column(String)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineEvent(Base):
    """One typed UTC event of an incident: ``alert``, ``action``, ``status``, ``note``,
    ``comms``, ``tx``, ``external`` (or ``task``). ``public`` events may reach the status
    page; everything else is internal."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String)
    summary: Mapped[str] = mapped_column(String)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Task(Base):
    """An action item: owner, due date, type (detective, preventative, corrective), source
    (incident or post-mortem) and status (open, done, cancelled)."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(String)
    owner: Mapped[str | None] = mapped_column(String)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AffectedAddress(Base):
    """An address touched by the incident: at-risk, impacted, paused, saved, needs-review or
    uncertain."""

    __tablename__ = "affected_addresses"
    __table_args__ = (UniqueConstraint("incident_id", "chain", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    address: Mapped[str] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FundMovement(Base):
    """Funds that moved in the incident: origin, transaction, asset, amount (exact, as a
    decimal string), destination and its kind (exchange, bridge, mixer, unknown), and
    recovery status."""

    __tablename__ = "fund_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    origin: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    asset: Mapped[str] = mapped_column(String)
    amount: Mapped[str] = mapped_column(String)
    destination: Mapped[str] = mapped_column(String(42))
    destination_kind: Mapped[str] = mapped_column(String(16))
    recovery_status: Mapped[str] = mapped_column(String(16))
    usd_value: Mapped[float | None] = mapped_column(Float)


class AttackerRecord(Base):
    """Something known about the attacker: an address, a contract, a funding source, a tag."""

    __tablename__ = "attacker_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String)
    note: Mapped[str] = mapped_column(String, default="")


class PublicUpdate(Base):
    """A status-page update: investigating → identified → monitoring → resolved."""

    __tablename__ = "public_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String)
    body: Mapped[str] = mapped_column(String)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[str | None] = mapped_column(String)


class Delivery(Base):
    """One message to one channel: kept until delivered, retried with backoff, never
    dropped silently. ``status`` is pending, sent, retrying or failed (gave up)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String)
    event: Mapped[str] = mapped_column(String(32))
    group_key: Mapped[str | None] = mapped_column(String, index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(String)
    body: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Page(Base):
    """Paging a role: members in escalation order until one acknowledges."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    role: Mapped[str] = mapped_column(String)
    people: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String)
    escalate_after_s: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    paged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """An API token of a person in the plan; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserLoss(Base):
    """One user's loss of one asset in an incident, exact to the wei (a decimal string of
    base units), with how it was computed."""

    __tablename__ = "user_losses"
    __table_args__ = (UniqueConstraint("incident_id", "chain", "address", "asset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    address: Mapped[str] = mapped_column(String(42))
    asset: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str] = mapped_column(String)
    usd_value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class Distribution(Base):
    """A compensation Merkle distribution of one token for an incident."""

    __tablename__ = "distributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    token: Mapped[str] = mapped_column(String(42))
    root: Mapped[str] = mapped_column(String(66))
    total: Mapped[str] = mapped_column(String)
    tree: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Drill(Base):
    """A drill that was run: a scripted attack on a local chain, or a tabletop exercise.

    ``measurements`` holds the times to detect and contain and the funds saved; ``answers``
    a tabletop's phases, answers and times. ``plan check`` reads the dates.
    """

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario: Mapped[str] = mapped_column(String, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    plan_sha256: Mapped[str | None] = mapped_column(String(64))
    participants: Mapped[list[str]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON)
    findings: Mapped[list[Any]] = mapped_column(JSON)
    answers: Mapped[list[Any]] = mapped_column(JSON)
    report_path: Mapped[str | None] = mapped_column(String)


class Postmortem(Base):
    """The post-mortem of an incident: draft → in-review → published."""

    __tablename__ = "postmortems"
    __table_args__ = (UniqueConstraint("incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
