"""What the dashboard pages show, read through the same service functions as the CLI and
the API; each function returns plain values a template can render after the session closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.analysis.assets import plan_names
from breakglass.analysis.unit_store import stored_units
from breakglass.incidents import comms, evidence, service
from breakglass.incidents.lifecycle import SEVERITIES, allowed_next
from breakglass.incidents.timeline import timeline
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models import Plan
from breakglass.report.regulatory import Deadline, clocks_for_incident
from breakglass.report.wording import incident_alerts
from breakglass.respond.approval_view import ApprovalView, approval_view
from breakglass.store.models import (
    AlertRecord,
    Distribution,
    Drill,
    Incident,
    IncidentRun,
    PlaybookRun,
    PublicUpdate,
    StepEvent,
    StepRun,
    TimelineEvent,
    UserLoss,
)

__all__ = [
    "IncidentView",
    "RunView",
    "StepView",
    "approval_views",
    "drills",
    "incident_list",
    "incident_timeline",
    "incident_view",
]


@dataclass
class StepView:
    """One step run with its recorded phases (the verification among them)."""

    step: StepRun
    events: list[StepEvent]

    @property
    def verification(self) -> list[StepEvent]:
        """The phases that checked the step's effect."""
        return [e for e in self.events if "verif" in e.phase or "verify" in e.detail]


@dataclass
class RunView:
    """A playbook run linked to the incident and its steps."""

    run: PlaybookRun
    steps: list[StepView]


@dataclass
class IncidentView:
    """Everything the incident page shows."""

    incident: Incident
    next_statuses: list[str]
    events: list[TimelineEvent]
    alerts: list[AlertRecord]
    runs: list[RunView]
    updates: list[PublicUpdate]
    tasks: list[Any]
    affected: list[Any]
    movements: list[Any]
    attackers: list[Any]
    losses: list[UserLoss]
    distributions: list[Distribution]
    clocks: list[Deadline]
    flow_svg: Markup | None = None
    durations: dict[str, Any] = field(default_factory=dict)


def incident_list(
    sessions: sessionmaker[Session], *, status: str | None, severity: str | None
) -> list[Incident]:
    """Incidents, newest first, filtered like ``breakglass incident list``."""
    with sessions() as session:
        rows = service.list_incidents(session, status=status, limit=500)
        if severity in SEVERITIES:
            rows = [r for r in rows if r.severity == severity]
        session.expunge_all()
        return list(rows)


def incident_timeline(sessions: sessionmaker[Session], incident_id: int) -> list[TimelineEvent]:
    """The incident's timeline as stored (incidents' consumer keeps it; a GET never writes)."""
    with sessions() as session:
        service.get_incident(session, incident_id)
        events = timeline(session, incident_id)
        session.expunge_all()
        return events


def _runs(session: Session, incident_id: int) -> list[RunView]:
    run_ids = select(IncidentRun.run_id).where(IncidentRun.incident_id == incident_id)
    runs = session.scalars(
        select(PlaybookRun).where(PlaybookRun.id.in_(run_ids)).order_by(PlaybookRun.id)
    ).all()
    out = []
    for run in runs:
        steps = session.scalars(
            select(StepRun).where(StepRun.run_id == run.id).order_by(StepRun.position, StepRun.id)
        ).all()
        latest: dict[int, StepView] = {}
        for step in steps:  # a resumed step gets a new row: show the latest, with every phase
            events = session.scalars(
                select(StepEvent).where(StepEvent.step_id == step.id).order_by(StepEvent.id)
            ).all()
            before = latest[step.position].events if step.position in latest else []
            latest[step.position] = StepView(step, [*before, *events])
        out.append(RunView(run, [latest[p] for p in sorted(latest)]))
    return out


def _flow_svg(session: Session, plan: Plan, movements: list[Any]) -> Markup | None:
    """The post-mortem's fund-flow picture (ElementTree escapes its text), if available,
    its legend in token units: the units kept in the database, so a page never waits on a
    chain endpoint to say "400,000 dUSD" rather than 24-digit base units of an address."""
    if not movements:
        return None
    try:
        from breakglass.report.postmortem_chart import flow_svg  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the picture is optional
        return None
    units = stored_units(session, {(m.chain, m.asset) for m in movements})
    svg = flow_svg(movements, names=plan_names(plan), units=units)
    return Markup(svg)  # noqa: S704 - built with ElementTree, text escaped


def incident_view(
    loaded: LoadedPlan, sessions: sessionmaker[Session], incident_id: int
) -> IncidentView:
    """The incident page's data; raises ``IncidentNotFound``."""
    events = incident_timeline(sessions, incident_id)
    with sessions() as session:
        incident = service.get_incident(session, incident_id)
        movements = evidence.fund_movements(session, incident_id)
        view = IncidentView(
            incident=incident,
            next_statuses=[str(s) for s in allowed_next(incident.status)],
            events=events,
            alerts=incident_alerts(session, incident_id),
            runs=_runs(session, incident_id),
            updates=comms.public_updates(session, incident_id),
            tasks=service.list_tasks(session, incident_id),
            affected=evidence.affected_addresses(session, incident_id),
            movements=movements,
            attackers=evidence.attacker_records(session, incident_id),
            losses=list(
                session.scalars(
                    select(UserLoss)
                    .where(UserLoss.incident_id == incident_id)
                    .order_by(UserLoss.id)
                )
            ),
            distributions=list(
                session.scalars(
                    select(Distribution)
                    .where(Distribution.incident_id == incident_id)
                    .order_by(Distribution.id)
                )
            ),
            clocks=clocks_for_incident(session, loaded.plan, incident_id, datetime.now(UTC)),
            flow_svg=_flow_svg(session, loaded.plan, movements),
            durations=service.durations(incident),
        )
        session.expunge_all()
        return view


def waiting_steps(view: IncidentView) -> list[StepRun]:
    """The incident's steps waiting for an approval."""
    return [s.step for r in view.runs for s in r.steps if s.step.status == "awaiting-approval"]


def approval_views(
    loaded: LoadedPlan, sessions: sessionmaker[Session], view: IncidentView
) -> dict[int, ApprovalView]:
    """What each of the incident's waiting steps asks approval for, by step id."""
    shown = {}
    for step in waiting_steps(view):
        if (ask := approval_view(loaded, sessions, step_id=step.id)) is not None:
            shown[step.id] = ask
    return shown


def drills(sessions: sessionmaker[Session]) -> list[Drill]:
    """Every drill run, newest first."""
    with sessions() as session:
        rows = list(session.scalars(select(Drill).order_by(Drill.started_at.desc(), Drill.id)))
        session.expunge_all()
        return rows
