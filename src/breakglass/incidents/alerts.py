"""Alerts open incidents, or attach to the open incident they correlate with.

The rules of :func:`incident_for_alert`, in order:

1. An alert already attached stays where it is.
2. An alert whose incident candidate (the detector's correlation) matches an alert attached
   to an incident that is not over attaches to that incident.
3. An alert whose priority is P1 or P2 opens a new incident. Its priority is the plan's
   ``alerting.priorities`` mapping of the rule's severity (by default critical P1, high P2).
4. A lesser alert (P3, P4, P5) attaches to the newest incident on its chain that is not
   over, if any: during an incident, lesser alerts on the same chain belong in its timeline,
   not in new pages. Only without one does it open an incident, at its priority.

Attaching an alert more severe than its incident raises the incident's severity: when in
doubt, choose higher.

Incidents works from an alert's facts (:class:`AlertFacts`): the desk has them from the
``AlertRaised`` event (:meth:`RaisedAlert.from_event`), and keeps them with each link in
``incident_alerts``; detect's ``alerts`` table is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.events import AlertRaised
from breakglass.incidents.errors import IncidentError
from breakglass.incidents.lifecycle import FINAL, severity_rank
from breakglass.incidents.service import open_incident
from breakglass.incidents.timeline import EventKind, alert_event, record_event, utcnow
from breakglass.plan.models import Plan
from breakglass.store.models import Incident, IncidentAlert

__all__ = ["AlertFacts", "RaisedAlert", "attach_alert", "incident_for_alert"]

_OPENS = frozenset({"P1", "P2"})
_NOT_OVER = Incident.status.not_in([str(s) for s in FINAL])


class AlertFacts(Protocol):
    """What incidents takes of an alert: an ``AlertRaised``'s facts (:class:`RaisedAlert`),
    or anything shaped alike."""

    @property
    def id(self) -> int: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def chain(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def addresses(self) -> Sequence[str]: ...
    @property
    def block_number(self) -> int: ...
    @property
    def block_time(self) -> datetime: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def tx_hash(self) -> str | None: ...
    @property
    def incident_candidate_id(self) -> int | None: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """An alert as its ``AlertRaised`` told it: raised, so ``open``."""

    id: int
    dedupe_key: str
    rule: str
    kind: str
    chain: str
    severity: str
    title: str
    description: str
    addresses: tuple[str, ...]
    block_number: int
    block_time: datetime
    first_seen: datetime
    tx_hash: str | None
    incident_candidate_id: int | None
    status: str = "open"

    @classmethod
    def from_event(cls, event: AlertRaised) -> RaisedAlert:
        """The event's facts; an event stored before it carried its times reads as raised
        when it occurred (detect emits it as it stores the alert)."""
        block_time = event.block_time or event.occurred_at
        return cls(
            id=event.alert_id,
            dedupe_key=event.dedupe_key,
            rule=event.rule,
            kind=event.kind,
            chain=event.chain,
            severity=event.severity,
            title=event.title,
            description=event.description,
            addresses=tuple(event.addresses),
            block_number=event.block_number,
            block_time=block_time,
            first_seen=event.first_seen or event.occurred_at,
            tx_hash=event.tx_hash,
            incident_candidate_id=event.candidate_id,
        )


def _severity(plan: Plan, alert: AlertFacts) -> str:
    """The incident priority the plan maps the alert's rule severity to (P1 if unknown)."""
    return plan.alerting.priority(alert.severity)


def _contracts(plan: Plan, alert: AlertFacts) -> list[str]:
    addresses = {a.lower() for a in alert.addresses}
    rule = plan.rule(alert.rule)
    names = set(rule.contracts) if rule is not None else set()
    names |= {n for n, c in plan.contracts.items() if str(c.address).lower() in addresses}
    return sorted(names)


def incident_for_alert(session: Session, plan: Plan, alert: AlertFacts) -> Incident:
    """The incident ``alert`` belongs to, opening one if needed (see the module
    docstring); the alert is attached and on the incident's timeline either way."""
    if alert.status == "retracted":
        raise IncidentError(f"alert #{alert.id} was retracted by a reorg")
    link = session.scalars(select(IncidentAlert).where(IncidentAlert.alert_id == alert.id)).first()
    if link is not None:
        incident = session.get(Incident, link.incident_id)
        assert incident is not None  # foreign key
        return incident
    target = _correlated(session, alert)
    if target is None and _severity(plan, alert) not in _OPENS:
        target = session.scalars(
            select(Incident)
            .where(_NOT_OVER)
            .order_by(Incident.detected_at.desc(), Incident.id.desc())
        ).first()
        if target is not None and alert.chain not in target.chains:
            target = None
    if target is None:
        target = open_incident(
            session,
            plan,
            title=alert.title,
            kind=alert.kind,
            severity=_severity(plan, alert),
            chains=[alert.chain],
            contracts=_contracts(plan, alert),
            detected_at=alert.first_seen,
            started_at=alert.block_time,
            summary=alert.description,
            actor=f"rule:{alert.rule}",
        )
    attach_alert(session, plan, target, alert)
    return target


def _correlated(session: Session, alert: AlertFacts) -> Incident | None:
    """The newest incident not over holding an alert of the same correlation candidate."""
    if alert.incident_candidate_id is None:
        return None
    query = (
        select(Incident)
        .join(IncidentAlert, IncidentAlert.incident_id == Incident.id)
        .where(IncidentAlert.candidate_id == alert.incident_candidate_id, _NOT_OVER)
        .order_by(Incident.id.desc())
    )
    return session.scalars(query).first()


def attach_alert(session: Session, plan: Plan, incident: Incident, alert: AlertFacts) -> None:
    """Attach ``alert`` to ``incident`` (keeping its facts with the link): widen its chains,
    contracts and start, raise its severity if the alert is worse, and put the alert on its
    timeline."""
    session.add(
        IncidentAlert(
            incident_id=incident.id,
            alert_id=alert.id,
            attached_at=utcnow(),
            dedupe_key=alert.dedupe_key,
            rule=alert.rule,
            chain=alert.chain,
            severity=alert.severity,
            title=alert.title,
            block_number=alert.block_number,
            block_time=alert.block_time,
            tx_hash=alert.tx_hash,
            candidate_id=alert.incident_candidate_id,
        )
    )
    if alert.chain not in incident.chains:
        incident.chains = [*incident.chains, alert.chain]
    contracts = _contracts(plan, alert)
    if not set(contracts) <= set(incident.contracts):
        incident.contracts = sorted(set(incident.contracts) | set(contracts))
    if incident.started_at is None or alert.block_time < incident.started_at:
        incident.started_at = alert.block_time
    severity = _severity(plan, alert)
    if severity_rank(severity) < severity_rank(incident.severity):
        record_event(
            session,
            incident.id,
            EventKind.STATUS,
            f"severity {incident.severity} → {severity} (alert #{alert.id})",
            at=alert.first_seen,
            actor=f"rule:{alert.rule}",
            data={"severity_from": incident.severity, "severity_to": severity},
        )
        incident.severity = severity
    incident.updated_at = max(incident.updated_at, alert.first_seen)
    session.flush()
    alert_event(session, incident.id, alert)
