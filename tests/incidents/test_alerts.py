"""Alerts open incidents or attach to the open incident they correlate with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents import (
    IncidentError,
    current_roles,
    incident_for_alert,
    timeline,
    transition,
)
from breakglass.plan.models import Plan
from breakglass.store.alerts import retract_alerts
from breakglass.store.models import IncidentAlert

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_critical_alert_opens_an_incident(session: Session, plan: Plan, store_alert: Any) -> None:
    alert = store_alert(session, 1, severity="critical", at=T0)
    incident = incident_for_alert(session, plan, alert)
    assert (incident.severity, incident.status, incident.kind) == (
        "P1",
        "detected",
        "large-outflow",
    )
    assert (incident.chains, incident.contracts) == (["local"], ["pool"])
    assert incident.started_at == T0  # the exploit block's time
    assert incident.detected_at == T0 + timedelta(seconds=12)  # when the alert was recorded
    assert current_roles(session, incident.id)["incident_lead"] == "alice"
    assert [e.kind for e in timeline(session, incident.id)].count("alert") == 1
    assert incident_for_alert(session, plan, alert).id == incident.id  # already attached
    assert len(session.scalars(select(IncidentAlert)).all()) == 1


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "P1"), ("high", "P2"), ("medium", "P3"), ("low", "P4"), ("info", "P5")],
)
def test_severity_mapping(
    session: Session, plan: Plan, store_alert: Any, severity: str, expected: str
) -> None:
    assert incident_for_alert(
        session, plan, store_alert(session, 1, severity=severity)
    ).severity == (expected)


def test_the_plans_priority_mapping_sets_and_opens(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    """``alerting.priorities`` is the mapping used: a medium alert the plan calls P2 opens
    its own incident while another is open, and a high one it calls P1 is P1."""
    mapped = plan.model_copy(
        update={
            "alerting": plan.alerting.model_copy(
                update={"priorities": {"high": "P1", "medium": "P2"}}
            )
        }
    )
    main = incident_for_alert(session, mapped, store_alert(session, 1, severity="high"))
    assert main.severity == "P1"
    medium = incident_for_alert(session, mapped, store_alert(session, 2, severity="medium"))
    assert (medium.id != main.id, medium.severity) == (True, "P2")
    # Left out of the mapping: low keeps P4 and, being lesser, joins the open incident.
    low = incident_for_alert(session, mapped, store_alert(session, 3, severity="low"))
    assert low.id == medium.id


def test_correlated_alerts_attach(
    session: Session, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    group = new_candidate(session, "a")
    first = incident_for_alert(session, plan, store_alert(session, 1, candidate=group))
    later = store_alert(session, 2, candidate=group, at=T0 - timedelta(minutes=5))
    assert incident_for_alert(session, plan, later).id == first.id
    assert first.started_at == T0 - timedelta(minutes=5)  # the earliest exploit block
    # An uncorrelated high alert pages on its own, even while an incident is open.
    other = incident_for_alert(session, plan, store_alert(session, 3, severity="high"))
    assert other.id != first.id


def test_lesser_alerts_join_the_open_incident_on_their_chain(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    lone = incident_for_alert(session, plan, store_alert(session, 1, severity="medium"))
    assert lone.severity == "P3"  # no open incident: it opens one
    main = incident_for_alert(session, plan, store_alert(session, 2, severity="critical"))
    assert incident_for_alert(session, plan, store_alert(session, 3, severity="low")).id == main.id
    elsewhere = store_alert(session, 4, severity="low", chain="base")
    assert incident_for_alert(session, plan, elsewhere).id not in (main.id, lone.id)


def test_worse_alert_raises_severity(
    session: Session, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    group = new_candidate(session)
    incident = incident_for_alert(
        session, plan, store_alert(session, 1, severity="low", candidate=group)
    )
    assert incident.severity == "P4"
    incident_for_alert(session, plan, store_alert(session, 2, severity="critical", candidate=group))
    assert incident.severity == "P1"
    assert any(e.summary.startswith("severity P4 → P1") for e in timeline(session, incident.id))


def test_over_incidents_take_no_alerts(
    session: Session, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    group = new_candidate(session)
    old = incident_for_alert(session, plan, store_alert(session, 1, candidate=group))
    transition(session, old.id, "false-positive", actor="alice")
    new = incident_for_alert(
        session, plan, store_alert(session, 2, severity="low", candidate=group)
    )
    assert new.id != old.id and new.severity == "P4"


def test_retracted_alert_opens_nothing(session: Session, plan: Plan, store_alert: Any) -> None:
    alert = store_alert(session, 1)
    retract_alerts(session, chain="local", block_hash=alert.block_hash)
    with pytest.raises(IncidentError, match="retracted"):
        incident_for_alert(session, plan, alert)
