"""The ``IncidentChanged`` every status transition emits, whoever made it.

A person's ``incident transition 1 contained`` and the desk's automatic containment are the
same fact for the channels: both go through :func:`~breakglass.incidents.service.transition`,
which emits this event in the transaction of the change. Its id names the status reached
(the lifecycle never returns to a status), so the change is announced once however many
paths try to record it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from breakglass.events import IncidentChanged, emit
from breakglass.store.models import Incident

__all__ = ["emit_status_changed"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def emit_status_changed(
    session: Session,
    incident: Incident,
    *,
    before: str,
    actor: str,
    note: str | None,
    when: datetime,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Queue the incident's move from ``before`` to its current status in ``session``;
    ``False`` if that status was already announced. ``extra`` joins the detail the
    templates read (the desk's ``contracts_paused``)."""
    detail: dict[str, Any] = {
        "incident_id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "status": incident.status,
        "previous_status": before,
        "note": note,
        "chains": list(incident.chains),
        "contracts": list(incident.contracts),
        "contained_at": _iso(incident.contained_at),
        "funds_at_risk_usd": incident.funds_at_risk_usd,
        "next_update_at": _iso(incident.next_update_at),
        "by": actor,
        **(extra or {}),
    }
    return emit(
        session,
        IncidentChanged(
            event_id=IncidentChanged.key(incident.id, "status", incident.status),
            occurred_at=when,
            incident_id=incident.id,
            change="status",
            before=before,
            after=incident.status,
            actor=actor,
            detail=detail,
        ),
    )
