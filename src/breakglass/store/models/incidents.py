"""Incidents: links to alerts and runs, roles, timeline, tasks, evidence, public updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = [
    "AffectedAddress",
    "AttackerRecord",
    "FundMovement",
    "Incident",
    "IncidentAlert",
    "IncidentRun",
    "PublicUpdate",
    "ResponseRecord",
    "RoleAssignment",
    "Task",
    "TimelineEvent",
]


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
    # What the public status page calls the incident: random, so the page does not reveal
    # how many incidents there were. Set when the first public update is published.
    public_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    # Whether a person wrote the title and summary (``incident edit``); until then readers
    # see generated ones (breakglass.report.wording), not the alert's title.
    title_authored: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    summary_authored: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Funds at risk in tokens, ``[{chain, asset, amount}]`` with amounts in base units.
    funds_at_risk: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)


class IncidentAlert(Base):
    """An alert attached to an incident (it opened it, or correlated with it), with the
    facts incidents keeps of it from its ``AlertRaised``: correlation, severity upgrades and
    the timeline work from these, never from detect's ``alerts`` table.

    ``candidate_id`` is detect's correlation candidate as the alert was raised: an alert
    raised later in the same candidate joins this alert's incident."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("alert_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dedupe_key: Mapped[str | None] = mapped_column(String, index=True)
    rule: Mapped[str | None] = mapped_column(String)
    chain: Mapped[str | None] = mapped_column(String)
    severity: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    candidate_id: Mapped[int | None] = mapped_column(Integer, index=True)


class IncidentRun(Base):
    """A playbook run carried out for an incident. ``run_id`` names respond's run as its
    events did; it is no foreign key, since incidents never reads respond's tables."""

    __tablename__ = "incident_runs"
    __table_args__ = (UniqueConstraint("run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    run_id: Mapped[int] = mapped_column(Integer)


class ResponseRecord(Base):
    """What incidents heard of respond's work: one ``StepPhase`` (``kind`` ``phase``) or
    ``ActionExecuted`` (``kind`` ``action``) event, kept so that runs can be linked to an
    incident whenever its alert arrives, before or after the run, without reading respond's
    tables. ``verified`` is the chain's word on an executed action's check (True also when
    a precheck found it already in place)."""

    __tablename__ = "response_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    step_id: Mapped[int] = mapped_column(Integer, index=True)
    parent_step_id: Mapped[int | None] = mapped_column(Integer, index=True)
    trigger: Mapped[str] = mapped_column(String, index=True)
    playbook: Mapped[str] = mapped_column(String)
    chain: Mapped[str | None] = mapped_column(String)
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String)
    phase: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified: Mapped[bool | None] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


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
    provenance: Mapped[str] = mapped_column(String(16), default="person")
    """``analysis`` (a re-analysis replaces it) or ``person`` (kept, whatever analysis says)."""


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
    provenance: Mapped[str] = mapped_column(String(16), default="person")
    """``analysis`` (a re-analysis replaces it) or ``person`` (kept, whatever analysis says)."""


class AttackerRecord(Base):
    """Something known about the attacker: an address, a contract, a funding source, a tag."""

    __tablename__ = "attacker_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String)
    note: Mapped[str] = mapped_column(String, default="")
    provenance: Mapped[str] = mapped_column(String(16), default="person")
    """``analysis`` (a re-analysis replaces it) or ``person`` (kept, whatever analysis says)."""


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
