"""External parties per the plan's conditions, the update cadence and its reminders, and the
order of public updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from breakglass.incidents import (
    IncidentError,
    assign_role,
    due_reminders,
    engage_external_parties,
    list_tasks,
    next_update_due,
    open_incident,
    public_updates,
    publish_update,
    set_funds_at_risk,
    timeline,
    transition,
)
from breakglass.plan.models import ExternalParty, Plan
from breakglass.store.models import Incident

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _open(session: Session, plan: Plan, severity: str = "P1", at: datetime = T0) -> Incident:
    return open_incident(
        session,
        plan,
        title=f"drain {severity}",
        kind="exploit",
        severity=severity,
        chains=["local"],
        contracts=["pool"],
        detected_at=at,
    )


def test_external_parties_engage_once_per_incident(session: Session, plan: Plan) -> None:
    calls: list[tuple[str, ExternalParty]] = []
    incident = _open(session, plan)
    engaged = engage_external_parties(
        session, plan, incident, notify=lambda n, p: calls.append((n, p))
    )
    assert engaged == ["users"]  # funds at risk unknown (0): SEAL 911 not yet
    set_funds_at_risk(session, incident.id, 2_500_000.0)
    engaged = engage_external_parties(
        session, plan, incident, notify=lambda n, p: calls.append((n, p))
    )
    assert engaged == ["seal911"]
    assert (
        engage_external_parties(session, plan, incident, notify=lambda n, p: calls.append((n, p)))
        == []
    )
    assert [name for name, _ in calls] == ["users", "seal911"]
    assert calls[1][1].kind == "seal-911"
    externals = [e for e in timeline(session, incident.id) if e.kind == "external"]
    assert [e.data["party"] for e in externals] == ["users", "seal911"]
    tasks = list_tasks(session, incident.id)
    assert [(t.owner, t.kind, t.status) for t in tasks] == [
        ("comms", "corrective", "open"),
        ("incident_lead", "corrective", "open"),
    ]
    assert "open a SEAL 911 chat" in tasks[1].title


def test_low_severity_engages_nobody_and_notify_failure_is_survived(
    session: Session, plan: Plan
) -> None:
    quiet = _open(session, plan, severity="P4")
    assert engage_external_parties(session, plan, quiet, notify=lambda n, p: None) == []

    def boom(name: str, party: ExternalParty) -> None:
        raise RuntimeError("channel down")

    loud = _open(session, plan, severity="P2")
    assert engage_external_parties(session, plan, loud, notify=boom) == ["users"]
    assert engage_external_parties(session, plan, loud, notify=boom) == []  # recorded anyway
    assert len(list_tasks(session, loud.id)) == 1


def test_cadence_and_reminders(session: Session, plan: Plan) -> None:
    cadence = timedelta(minutes=30)
    incident = _open(session, plan)
    assert next_update_due(incident, plan) == T0 + cadence
    assert due_reminders(session, plan, T0 + 29 * MIN) == []
    [reminder] = due_reminders(session, plan, T0 + 45 * MIN)
    assert (reminder.incident_id, reminder.role, reminder.person) == (incident.id, "comms", "dave")
    assert reminder.overdue_by == 15 * MIN
    assert incident.next_update_at == T0 + cadence

    publish_update(
        session,
        incident.id,
        "investigating",
        "We are looking",
        "Funds paused.",
        actor="dave",
        at=T0 + 40 * MIN,
        cadence=cadence,
    )
    assert incident.next_update_at == T0 + 70 * MIN
    assert next_update_due(incident, plan) == T0 + 70 * MIN
    assert due_reminders(session, plan, T0 + 60 * MIN) == []
    assign_role(session, incident.id, "comms", "erin", actor="alice")
    [reminder] = due_reminders(session, plan, T0 + 80 * MIN)
    assert reminder.person == "erin"

    publish_update(
        session,
        incident.id,
        "resolved",
        "Fixed",
        "All good.",
        actor="erin",
        at=T0 + 90 * MIN,
        cadence=cadence,
    )
    assert incident.next_update_at is None
    assert next_update_due(incident, plan) is None
    other = _open(session, plan, at=T0 + 100 * MIN)
    transition(session, other.id, "false-positive", actor="alice")
    assert due_reminders(session, plan, T0 + 1000 * MIN) == []


def test_no_cadence_no_reminders(session: Session, plan: Plan) -> None:
    quiet = plan.model_copy(update={"communication": None})
    _open(session, quiet)
    assert due_reminders(session, quiet, T0 + 1000 * MIN) == []


def test_public_updates_go_forward(session: Session, plan: Plan) -> None:
    incident = _open(session, plan)
    for n, status in enumerate(["investigating", "investigating", "identified", "monitoring"]):
        publish_update(session, incident.id, status, f"u{n}", "body", actor="dave", at=T0 + n * MIN)
    with pytest.raises(
        IncidentError, match="the last one said monitoring; allowed: monitoring, resolved"
    ):
        publish_update(session, incident.id, "identified", "x", "y", actor="dave")
    with pytest.raises(IncidentError, match="unknown public update status 'fixed'"):
        publish_update(session, incident.id, "fixed", "x", "y", actor="dave")
    publish_update(session, incident.id, "resolved", "done", "body", actor="dave", at=T0 + 9 * MIN)
    assert [u.status for u in public_updates(session, incident.id)] == [
        "investigating",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    comms = [e for e in timeline(session, incident.id) if e.kind == "comms"]
    assert len(comms) == 5 and all(e.public for e in comms)
    assert len(public_updates(session)) == 5
