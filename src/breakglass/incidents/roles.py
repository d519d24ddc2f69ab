"""Incident roles from the plan, with their history: who held a role from when until when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents.errors import IncidentError
from breakglass.incidents.timeline import EventKind, record_event, utcnow
from breakglass.plan.models import Plan
from breakglass.store.models import RoleAssignment

__all__ = ["assign_plan_roles", "assign_role", "current_roles", "role_history"]


def assign_plan_roles(
    session: Session, plan: Plan, incident_id: int, *, actor: str, at: datetime | None = None
) -> dict[str, str]:
    """Give every role of the plan that has members (incident lead, scribe, comms, …) to
    its first member; returns role → person."""
    assigned: dict[str, str] = {}
    for role, spec in plan.roles.items():
        if spec.members:
            _assign(session, incident_id, role, spec.members[0], actor=actor, at=at, event=False)
            assigned[role] = spec.members[0]
    if assigned:
        text = ", ".join(f"{role} {person}" for role, person in assigned.items())
        record_event(
            session,
            incident_id,
            EventKind.NOTE,
            f"roles: {text}",
            at=at,
            actor=actor,
            data={"roles": assigned},
        )
    return assigned


def assign_role(
    session: Session,
    incident_id: int,
    role: str,
    person: str,
    *,
    actor: str,
    plan: Plan | None = None,
    at: datetime | None = None,
) -> RoleAssignment:
    """Make ``person`` hold ``role`` from ``at`` (default now), ending the current holder's
    assignment. With ``plan``, the role and the person must be in it."""
    if plan is not None:
        if role not in plan.roles:
            known = ", ".join(plan.roles) or "none"
            raise IncidentError(f"the plan has no role {role!r} (roles: {known})")
        if person not in plan.people:
            raise IncidentError(f"the plan has no person {person!r}")
    return _assign(session, incident_id, role, person, actor=actor, at=at, event=True)


def _assign(
    session: Session,
    incident_id: int,
    role: str,
    person: str,
    *,
    actor: str,
    at: datetime | None,
    event: bool,
) -> RoleAssignment:
    when = at or utcnow()
    current = _current(session, incident_id, role)
    if current is not None:
        if current.person == person:
            return current
        current.released_at = when
    row = RoleAssignment(
        incident_id=incident_id, role=role, person=person, assigned_at=when, released_at=None
    )
    session.add(row)
    session.flush()
    if not event:
        return row
    previous = f" (was {current.person})" if current is not None else ""
    record_event(
        session,
        incident_id,
        EventKind.NOTE,
        f"{role}: {person}{previous}",
        at=when,
        actor=actor,
        data={"role": role, "person": person},
    )
    return row


def _current(session: Session, incident_id: int, role: str) -> RoleAssignment | None:
    query = select(RoleAssignment).where(
        RoleAssignment.incident_id == incident_id,
        RoleAssignment.role == role,
        RoleAssignment.released_at.is_(None),
    )
    return session.scalars(query).first()


def current_roles(session: Session, incident_id: int) -> dict[str, str]:
    """Role → the person holding it now."""
    query = select(RoleAssignment).where(
        RoleAssignment.incident_id == incident_id, RoleAssignment.released_at.is_(None)
    )
    return {row.role: row.person for row in session.scalars(query)}


def role_history(session: Session, incident_id: int) -> list[RoleAssignment]:
    """Every assignment of the incident, oldest first; ``released_at`` null means current."""
    query = (
        select(RoleAssignment)
        .where(RoleAssignment.incident_id == incident_id)
        .order_by(RoleAssignment.assigned_at, RoleAssignment.id)
    )
    return list(session.scalars(query))
