"""Incidents through the service: milestones, durations, roles and their history, notes and
tasks, bad input. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from breakglass.incidents import (
    IncidentError,
    IncidentNotFound,
    TaskNotFound,
    acknowledge,
    add_note,
    add_task,
    assign_role,
    current_roles,
    durations,
    get_incident,
    list_incidents,
    list_tasks,
    open_incident,
    role_history,
    set_task_status,
    timeline,
    transition,
)
from breakglass.plan.models import Plan
from breakglass.store.models import Incident

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _open(session: Session, plan: Plan, **kw: object) -> Incident:
    args: dict[str, object] = {
        "title": "pool drained",
        "kind": "exploit",
        "severity": "P1",
        "chains": ["local"],
        "contracts": ["pool"],
        "detected_at": T0,
        "started_at": T0 - 3 * MIN,
    } | kw
    return open_incident(session, plan, **args)  # type: ignore[arg-type]


def test_milestones_and_durations(session: Session, plan: Plan) -> None:
    incident = _open(session, plan)
    assert incident.status == "detected" and incident.severity == "P1"
    assert durations(incident) == {
        "time_to_detect": 3 * MIN,
        "time_to_acknowledge": None,
        "time_to_contain": None,
        "time_to_resolve": None,
    }
    acknowledge(session, incident.id, actor="alice", at=T0 + 2 * MIN)
    acknowledge(session, incident.id, actor="bob", at=T0 + 5 * MIN)  # the first one counts
    transition(session, incident.id, "triaged", actor="alice", at=T0 + 6 * MIN)
    transition(session, incident.id, "contained", actor="carol", at=T0 + 10 * MIN)
    transition(session, incident.id, "eradicated", actor="alice", at=T0 + 60 * MIN)
    transition(session, incident.id, "recovered", actor="alice", at=T0 + 120 * MIN)
    transition(session, incident.id, "closed", actor="alice", note="done", at=T0 + 200 * MIN)
    session.commit()
    session.expire_all()
    stored = get_incident(session, incident.id)
    assert stored.acknowledged_at == T0 + 2 * MIN
    assert stored.closed_at == T0 + 200 * MIN
    assert durations(stored) == {
        "time_to_detect": 3 * MIN,
        "time_to_acknowledge": 2 * MIN,
        "time_to_contain": 10 * MIN,
        "time_to_resolve": 120 * MIN,
    }
    status_events = [e.summary for e in timeline(session, incident.id) if e.kind == "status"]
    assert status_events[1:] == [
        "detected → triaged",
        "triaged → contained",
        "contained → eradicated",
        "eradicated → recovered",
        "recovered → closed: done",
    ]
    assert all(e.at.tzinfo is not None for e in timeline(session, incident.id))


def test_triage_acknowledges_and_false_positive_resolves(session: Session, plan: Plan) -> None:
    incident = _open(session, plan, started_at=None)
    transition(session, incident.id, "triaged", actor="alice", at=T0 + MIN)
    assert incident.acknowledged_at == T0 + MIN
    transition(session, incident.id, "false-positive", actor="alice", at=T0 + 4 * MIN)
    assert durations(incident)["time_to_detect"] is None
    assert durations(incident)["time_to_resolve"] == 4 * MIN


def test_roles_from_the_plan_and_their_history(session: Session, plan: Plan) -> None:
    incident = _open(session, plan)
    assert current_roles(session, incident.id) == {
        "incident_lead": "alice",
        "scribe": "erin",
        "comms": "dave",
        "pauser": "carol",
    }  # the plan's roles, first member each; a role without members stays empty
    assign_role(session, incident.id, "incident_lead", "bob", actor="alice", at=T0 + 30 * MIN)
    assign_role(session, incident.id, "incident_lead", "bob", actor="alice")  # no-op
    assign_role(session, incident.id, "comms", "erin", actor="alice", plan=plan, at=T0 + MIN)
    assert current_roles(session, incident.id)["incident_lead"] == "bob"
    leads = [
        (r.person, r.assigned_at, r.released_at)
        for r in role_history(session, incident.id)
        if r.role == "incident_lead"
    ]
    assert leads == [("alice", T0, T0 + 30 * MIN), ("bob", T0 + 30 * MIN, None)]
    assert any(
        e.summary == "incident_lead: bob (was alice)" for e in timeline(session, incident.id)
    )
    with pytest.raises(IncidentError, match="no role 'janitor'"):
        assign_role(session, incident.id, "janitor", "bob", actor="alice", plan=plan)
    with pytest.raises(IncidentError, match="no person 'zed'"):
        assign_role(session, incident.id, "comms", "zed", actor="alice", plan=plan)


def test_notes_and_tasks(session: Session, plan: Plan) -> None:
    incident = _open(session, plan)
    note = add_note(session, incident.id, "attacker contract identified", actor="erin")
    assert (note.kind, note.actor) == ("note", "erin")
    due = datetime(2026, 12, 1, tzinfo=UTC)
    task = add_task(
        session,
        incident.id,
        "add an invariant monitor",
        owner="incident_lead",
        due_at=due,
        kind="detective",
        actor="alice",
    )
    standalone = add_task(
        session,
        None,
        "rotate keys",
        owner="carol",
        due_at=None,
        kind="preventative",
        source="post-mortem",
        actor="alice",
    )
    assert (task.status, task.source, task.due_at) == ("open", "incident", due)
    set_task_status(session, task.id, "done", actor="alice")
    assert task.done_at is not None
    set_task_status(session, standalone.id, "cancelled", actor="alice")
    assert [t.id for t in list_tasks(session, incident.id)] == [task.id]
    assert [t.status for t in list_tasks(session)] == ["done", "cancelled"]
    kinds = [e.kind for e in timeline(session, incident.id)]
    assert kinds.count("task") == 2
    with pytest.raises(
        IncidentError,
        match="unknown task kind 'urgent'; expected one of: detective, preventative, corrective",
    ):
        add_task(session, incident.id, "x", owner=None, due_at=None, kind="urgent", actor="a")
    with pytest.raises(IncidentError, match="unknown task status"):
        set_task_status(session, task.id, "finished", actor="alice")
    with pytest.raises(TaskNotFound, match="no task #999"):
        set_task_status(session, 999, "done", actor="alice")


def test_bad_input_is_a_clear_error(session: Session, plan: Plan) -> None:
    with pytest.raises(IncidentError, match="unknown severity 'sev1'"):
        _open(session, plan, severity="sev1")
    with pytest.raises(IncidentNotFound, match="no incident #42"):
        get_incident(session, 42)
    with pytest.raises(IncidentNotFound):
        acknowledge(session, 42, actor="alice")
    with pytest.raises(IncidentNotFound):
        add_note(session, 42, "x", actor="alice")
    with pytest.raises(IncidentError, match="unknown incident status 'open'"):
        list_incidents(session, status="open")


def test_list_incidents(session: Session, plan: Plan) -> None:
    first = _open(session, plan, title="a")
    second = _open(session, plan, title="b", detected_at=T0 + MIN)
    transition(session, first.id, "triaged", actor="alice")
    assert [i.id for i in list_incidents(session)] == [second.id, first.id]
    assert [i.id for i in list_incidents(session, status="triaged")] == [first.id]
    assert [i.id for i in list_incidents(session, limit=1)] == [second.id]
