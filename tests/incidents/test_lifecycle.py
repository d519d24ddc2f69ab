"""The lifecycle table, exhaustively: every (from, to) pair, as data and through the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy.orm import Session

from breakglass.errors import BreakglassError
from breakglass.incidents import (
    FINAL,
    TRANSITIONS,
    IncidentError,
    InvalidTransition,
    Status,
    allowed_next,
    open_incident,
    parse_severity,
    severity_rank,
    transition,
)
from breakglass.incidents.lifecycle import check_transition
from breakglass.plan.models import Plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAIN = [Status.TRIAGED, Status.CONTAINED, Status.ERADICATED, Status.RECOVERED, Status.CLOSED]
PATHS: dict[Status, list[Status]] = {Status.DETECTED: []}
for i, status in enumerate(MAIN):
    PATHS[status] = MAIN[: i + 1]
PATHS[Status.FALSE_POSITIVE] = [Status.FALSE_POSITIVE]
PATHS[Status.DUPLICATE] = [Status.DUPLICATE]

ALLOWED = {
    (Status.DETECTED, Status.TRIAGED),
    (Status.DETECTED, Status.CONTAINED),  # a verified automatic pause, before any triage
    (Status.TRIAGED, Status.CONTAINED),
    (Status.CONTAINED, Status.ERADICATED),
    (Status.ERADICATED, Status.RECOVERED),
    (Status.RECOVERED, Status.CLOSED),
    *(
        (s, exit_)
        for s in (Status.DETECTED, Status.TRIAGED, Status.CONTAINED)
        for exit_ in (Status.FALSE_POSITIVE, Status.DUPLICATE)
    ),
}


def test_table_is_the_documented_one() -> None:
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == ALLOWED
    assert set(TRANSITIONS) == set(Status)
    assert {Status.CLOSED, Status.FALSE_POSITIVE, Status.DUPLICATE} == FINAL


@pytest.mark.parametrize(("current", "to"), list(product(Status, Status)))
def test_every_pair(current: Status, to: Status) -> None:
    if (current, to) in ALLOWED:
        assert check_transition(current, to) is to
        return
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, to)
    message = str(info.value)
    assert f"from {current} to {to}" in message
    nexts = allowed_next(current)
    assert message.endswith(", ".join(nexts) if nexts else "none: the incident is over")
    assert isinstance(info.value, BreakglassError)


def test_bad_names_are_clear_errors() -> None:
    with pytest.raises(IncidentError, match="unknown incident status 'fixed'; expected one of"):
        allowed_next("fixed")
    assert allowed_next("duplicate-of") == ()
    assert check_transition("triaged", "duplicate-of") is Status.DUPLICATE
    assert parse_severity("p2") == "P2" and parse_severity("1") == "P1"
    assert severity_rank("P4") == 4
    with pytest.raises(IncidentError, match="when in doubt, choose higher"):
        parse_severity("P0")


def _incident_in(session: Session, plan: Plan, status: Status, other: int) -> int:
    incident = open_incident(
        session,
        plan,
        title="t",
        kind="exploit",
        severity="P2",
        chains=["local"],
        contracts=[],
        detected_at=T0,
    )
    for step, target in enumerate(PATHS[status], 1):
        dup = other if target is Status.DUPLICATE else None
        transition(
            session,
            incident.id,
            target,
            actor="alice",
            duplicate_of=dup,
            at=T0 + timedelta(minutes=step),
        )
    return incident.id


def test_every_pair_through_the_service(session: Session, plan: Plan) -> None:
    other = _incident_in(session, plan, Status.DETECTED, 0)
    for current, to in product(Status, Status):
        incident_id = _incident_in(session, plan, current, other)
        dup = other if to is Status.DUPLICATE else None
        if (current, to) in ALLOWED:
            incident = transition(session, incident_id, to, actor="bob", duplicate_of=dup)
            assert incident.status == to
            assert (incident.closed_at is not None) == (to in FINAL)
        else:
            with pytest.raises(InvalidTransition, match=f"from {current} to {to}; allowed"):
                transition(session, incident_id, to, actor="bob", duplicate_of=dup)


def test_duplicate_needs_another_incident(session: Session, plan: Plan) -> None:
    first = _incident_in(session, plan, Status.DETECTED, 0)
    second = _incident_in(session, plan, Status.DETECTED, 0)
    with pytest.raises(IncidentError, match="needs the id"):
        transition(session, second, "duplicate-of", actor="bob")
    with pytest.raises(IncidentError, match="cannot duplicate itself"):
        transition(session, second, "duplicate", actor="bob", duplicate_of=second)
    with pytest.raises(IncidentError, match="no incident #999"):
        transition(session, second, "duplicate", actor="bob", duplicate_of=999)
    with pytest.raises(IncidentError, match="only for the duplicate status"):
        transition(session, second, "triaged", actor="bob", duplicate_of=first)
    incident = transition(session, second, "duplicate-of", actor="bob", duplicate_of=first)
    assert (incident.status, incident.duplicate_of) == ("duplicate", first)
