"""Talking about an incident: public updates, their cadence, and external parties.

Only the plan's spokesperson role (``communication.spokesperson``, else ``comms``) and admins
may publish: a public update speaks for the protocol, and the right to pause is not the right
to speak (:func:`check_publisher`; the API, the dashboard and ``breakglass incident update``
pass the plan to :func:`publish_update`, which calls it).

``publish_update`` sets ``incident.next_update_at`` only when given the plan's ``cadence``;
:func:`next_update_due` is the source of truth either way (the last publication, or
detection, plus the cadence) and :func:`due_reminders` refreshes the column. No update is
due once the incident is over or its public status is ``resolved``.

Given a ``notifier``, an update is also posted (``status_update``) to the channels that take
public events, queued in the same transaction as the update itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from breakglass.detect.expr import ExpressionError, compile_expression
from breakglass.incidents.errors import IncidentError
from breakglass.incidents.lifecycle import FINAL, UpdateStatus, choice, severity_rank
from breakglass.incidents.roles import current_roles
from breakglass.incidents.service import add_task, get_incident
from breakglass.incidents.timeline import EventKind, record_event, utcnow
from breakglass.plan.models import ExternalParty, Plan
from breakglass.store.models import Incident, PublicUpdate, TimelineEvent

if TYPE_CHECKING:  # Apprise is slow to import; the caller brings the notifier
    from breakglass.notify import Notifier

__all__ = [
    "Notify",
    "PublishForbidden",
    "Reminder",
    "check_publisher",
    "comms_role",
    "due_reminders",
    "engage_external_parties",
    "next_update_due",
    "public_updates",
    "publish_update",
]

_log = structlog.get_logger("breakglass.incidents")
_ORDER = list(UpdateStatus)

Notify = Callable[[str, ExternalParty], object]
"""Called as ``notify(party_name, party)`` for each party engaged."""


class PublishForbidden(IncidentError):
    """The person may not publish public updates."""


def check_publisher(plan: Plan, person: str) -> None:
    """Allow ``person`` to publish if they are in the spokesperson role or an admin.

    Raises:
        PublishForbidden: they are neither.
    """
    from breakglass.webcore.tokens import access_of  # noqa: PLC0415 - who is an admin

    role = comms_role(plan)
    if role in plan.roles and person in plan.roles[role].members:
        return
    if person in plan.people and str(access_of(plan, person)) == "admin":
        return
    raise PublishForbidden(
        f"{person} may not publish public updates: only the {role!r} role "
        "(communication.spokesperson) and admins may"
    )


def publish_update(
    session: Session,
    incident_id: int,
    status: str,
    title: str,
    body: str,
    *,
    actor: str,
    at: datetime | None = None,
    cadence: timedelta | None = None,
    notifier: Notifier | None = None,
    plan: Plan | None = None,
) -> PublicUpdate:
    """Publish a status-page update. Statuses go investigating → identified → monitoring →
    resolved, forward only (repeating the current one is fine). With ``cadence`` (the plan's
    ``communication.update_cadence``) the next update falls due that long after this one.
    With ``notifier`` it is posted to every channel that takes ``status_update`` (external
    channels by default), in this transaction: published and queued, or neither. With
    ``plan``, ``actor`` must be allowed to publish (:func:`check_publisher`).

    The incident gets its opaque public id (what the status page calls it) with its first
    public update."""
    if plan is not None:
        check_publisher(plan, actor)
    choice(status, UpdateStatus, "public update status")
    # Publishers of one incident take turns: without the row lock, concurrent ones each read
    # the same latest status and each write, so the page could go resolved → identified.
    session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())
    incident = get_incident(session, incident_id)
    latest = _latest(session, incident_id)
    if latest is not None and _ORDER.index(UpdateStatus(status)) < _ORDER.index(
        UpdateStatus(latest.status)
    ):
        allowed = ", ".join(_ORDER[_ORDER.index(UpdateStatus(latest.status)) :])
        raise IncidentError(
            f"public updates go forward only: the last one said {latest.status}; allowed: {allowed}"
        )
    when = at or utcnow()
    if latest is not None and when < latest.published_at:
        # Updates are read in time order: an older stamp would slip behind the latest one.
        when = latest.published_at
    if incident.public_id is None:
        incident.public_id = secrets.token_hex(8)
    update = PublicUpdate(
        incident_id=incident_id,
        status=status,
        title=title,
        body=body,
        published_at=when,
        author=actor,
    )
    session.add(update)
    session.flush()
    done = status == UpdateStatus.RESOLVED or incident.status in FINAL
    incident.next_update_at = when + cadence if cadence is not None and not done else None
    record_event(
        session,
        incident_id,
        EventKind.COMMS,
        f"public update ({status}): {title}",
        at=when,
        actor=actor,
        public=True,
        data={"update_id": update.id, "status": status},
    )
    if notifier is not None:
        context = {
            "title": title,
            "message": f"{title}\n\n{body}",
            "status": status,
            "update_id": update.id,
            "next_update_at": incident.next_update_at,
        }
        notifier.notify("status_update", context, incident_id=incident_id, session=session)
    return update


def _latest(session: Session, incident_id: int) -> PublicUpdate | None:
    query = (
        select(PublicUpdate)
        .where(PublicUpdate.incident_id == incident_id)
        .order_by(PublicUpdate.published_at.desc(), PublicUpdate.id.desc())
    )
    return session.scalars(query.limit(1)).first()


def public_updates(session: Session, incident_id: int | None = None) -> list[PublicUpdate]:
    """Public updates, oldest first; of one incident when ``incident_id`` is given."""
    query = select(PublicUpdate).order_by(PublicUpdate.published_at, PublicUpdate.id)
    if incident_id is not None:
        query = query.where(PublicUpdate.incident_id == incident_id)
    return list(session.scalars(query))


def next_update_due(incident: Incident, plan: Plan) -> datetime | None:
    """When the next public update is due: the last one (or detection) plus the plan's
    ``communication.update_cadence``; None without a cadence or when none is due."""
    cadence = plan.communication.update_cadence if plan.communication else None
    if cadence is None or incident.status in FINAL:
        return None
    session = object_session(incident)
    latest = _latest(session, incident.id) if session is not None else None
    if latest is None:
        return incident.detected_at + cadence
    if latest.status == UpdateStatus.RESOLVED:
        return None
    return latest.published_at + cadence


def comms_role(plan: Plan) -> str:
    """The role that speaks publicly: ``communication.spokesperson``, else ``comms``."""
    if plan.communication is not None and plan.communication.spokesperson:
        return plan.communication.spokesperson
    return "comms"


@dataclass(frozen=True)
class Reminder:
    """An incident whose public update is overdue, and who should write it."""

    incident_id: int
    title: str
    due_at: datetime
    overdue_by: timedelta
    role: str
    person: str | None


def due_reminders(session: Session, plan: Plan, now: datetime) -> list[Reminder]:
    """Open incidents whose next public update is due at or before ``now``, most overdue
    first, each with the comms role and the person holding it (or its first member)."""
    role = comms_role(plan)
    members = plan.roles[role].members if role in plan.roles else []
    reminders: list[Reminder] = []
    query = select(Incident).where(Incident.status.not_in([str(s) for s in FINAL]))
    for incident in session.scalars(query):
        due = next_update_due(incident, plan)
        if incident.next_update_at != due:
            incident.next_update_at = due
        if due is None or due > now:
            continue
        person = current_roles(session, incident.id).get(role) or next(iter(members), None)
        reminders.append(Reminder(incident.id, incident.title, due, now - due, role, person))
    session.flush()
    return sorted(reminders, key=lambda r: r.due_at)


def _engaged(session: Session, incident_id: int) -> set[str]:
    query = select(TimelineEvent).where(
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == str(EventKind.EXTERNAL)
    )
    return {str(e.data.get("party")) for e in session.scalars(query)}


def engage_external_parties(
    session: Session, plan: Plan, incident: Incident, *, notify: Notify
) -> list[str]:
    """Engage each external party whose ``engage_if`` holds for the incident, once per
    incident: an ``external`` timeline event, a task for the party's ``owner`` role, and
    ``notify(name, party)``. Returns the names engaged now.

    Variables: ``severity`` (1 for P1 … 5 for P5), ``funds_at_risk_usd`` (0 when unknown),
    ``status`` and ``kind``. A party whose expression fails is logged and skipped; a failing
    ``notify`` is logged, and the task still says to reach out.
    """
    env = {
        "severity": severity_rank(incident.severity),
        "funds_at_risk_usd": incident.funds_at_risk_usd or 0,
        "status": incident.status,
        "kind": incident.kind,
    }
    done = _engaged(session, incident.id)
    engaged: list[str] = []
    for name, party in plan.external_parties.items():
        if party.engage_if is None or name in done:
            continue
        try:
            hit = bool(compile_expression(party.engage_if).evaluate(env))
        except ExpressionError as exc:
            _log.error("incidents.engage_if_failed", party=name, error=str(exc))
            continue
        if not hit:
            continue
        record_event(
            session,
            incident.id,
            EventKind.EXTERNAL,
            f"engaged {name} ({party.kind})",
            actor="breakglass",
            data={"party": name, "kind": str(party.kind), "condition": party.engage_if},
        )
        how = party.how or party.contact or party.engage_when or ""
        add_task(
            session,
            incident.id,
            f"Reach out to {name} ({party.kind})" + (f": {how}" if how else ""),
            owner=party.owner,
            due_at=None,
            kind="corrective",
            actor="breakglass",
        )
        engaged.append(name)
        try:
            notify(name, party)
        except Exception as exc:  # the record stands; a person follows the task up
            _log.error("incidents.notify_failed", party=name, error=repr(exc))
    return engaged
