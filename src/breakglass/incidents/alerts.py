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
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents.errors import IncidentError
from breakglass.incidents.lifecycle import FINAL, severity_rank
from breakglass.incidents.service import open_incident
from breakglass.incidents.timeline import EventKind, alert_event, record_event, utcnow
from breakglass.plan.models import Plan
from breakglass.store.models import AlertRecord, Incident, IncidentAlert

__all__ = ["attach_alert", "incident_for_alert"]

_OPENS = frozenset({"P1", "P2"})
_NOT_OVER = Incident.status.not_in([str(s) for s in FINAL])


def _severity(plan: Plan, alert: AlertRecord) -> str:
    """The incident priority the plan maps the alert's rule severity to (P1 if unknown)."""
    return plan.alerting.priority(alert.severity)


def _contracts(plan: Plan, alert: AlertRecord) -> list[str]:
    addresses = {a.lower() for a in alert.addresses}
    rule = plan.rule(alert.rule)
    names = set(rule.contracts) if rule is not None else set()
    names |= {n for n, c in plan.contracts.items() if str(c.address).lower() in addresses}
    return sorted(names)


def incident_for_alert(session: Session, plan: Plan, alert_record: AlertRecord) -> Incident:
    """The incident ``alert_record`` belongs to, opening one if needed (see the module
    docstring); the alert is attached and on the incident's timeline either way."""
    if alert_record.status == "retracted":
        raise IncidentError(f"alert #{alert_record.id} was retracted by a reorg")
    link = session.scalars(
        select(IncidentAlert).where(IncidentAlert.alert_id == alert_record.id)
    ).first()
    if link is not None:
        incident = session.get(Incident, link.incident_id)
        assert incident is not None  # foreign key
        return incident
    target = _correlated(session, alert_record)
    if target is None and _severity(plan, alert_record) not in _OPENS:
        target = session.scalars(
            select(Incident)
            .where(_NOT_OVER)
            .order_by(Incident.detected_at.desc(), Incident.id.desc())
        ).first()
        if target is not None and alert_record.chain not in target.chains:
            target = None
    if target is None:
        target = open_incident(
            session,
            plan,
            title=alert_record.title,
            kind=alert_record.kind,
            severity=_severity(plan, alert_record),
            chains=[alert_record.chain],
            contracts=_contracts(plan, alert_record),
            detected_at=alert_record.first_seen,
            started_at=alert_record.block_time,
            summary=alert_record.description,
            actor=f"rule:{alert_record.rule}",
        )
    attach_alert(session, plan, target, alert_record)
    return target


def _correlated(session: Session, alert: AlertRecord) -> Incident | None:
    if alert.incident_candidate_id is None:
        return None
    query = (
        select(Incident)
        .join(IncidentAlert, IncidentAlert.incident_id == Incident.id)
        .join(AlertRecord, AlertRecord.id == IncidentAlert.alert_id)
        .where(AlertRecord.incident_candidate_id == alert.incident_candidate_id, _NOT_OVER)
        .order_by(Incident.id.desc())
    )
    return session.scalars(query).first()


def attach_alert(session: Session, plan: Plan, incident: Incident, alert: AlertRecord) -> None:
    """Attach ``alert`` to ``incident``: widen its chains, contracts and start, raise its
    severity if the alert is worse, and put the alert on its timeline."""
    session.add(IncidentAlert(incident_id=incident.id, alert_id=alert.id, attached_at=utcnow()))
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
