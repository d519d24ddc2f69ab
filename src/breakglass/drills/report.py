"""Drill reports: findings and corrective actions from the measurements, the next drill
from the plan's schedule, rendering through a Jinja2 template the team can replace, and the
stored ``Drill`` rows whose dates ``plan check``'s ``drills.schedule`` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.plan.models.base import format_duration
from breakglass.plan.models.policy import Drills
from breakglass.store.models import Drill

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_TEMPLATE",
    "DrillReport",
    "NextDrill",
    "next_drill",
    "participants_of",
    "render_report",
    "run_findings",
    "save_drill",
    "stored_dates_provider",
    "stored_drill_dates",
]

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "templates" / "drill_report.md.j2"
"""The shipped report template (Markdown)."""
DEFAULT_INTERVAL = timedelta(days=90)
"""The next drill's interval when the plan schedules none for the scenario."""


@dataclass(frozen=True, slots=True)
class NextDrill:
    """When the scenario is drilled next, and where that interval came from."""

    due: date
    interval: str
    source: str


@dataclass(slots=True)
class DrillReport:
    """Everything the report template sees (``kind`` is ``run`` or ``tabletop``)."""

    scenario: str
    title: str
    summary: str
    goals: list[str]
    kind: str
    started_at: datetime
    finished_at: datetime
    participants: list[str]
    plan_sha256: str | None
    status: str
    next: NextDrill
    measurements: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    corrective_actions: list[str] = field(default_factory=list)
    attack: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def format(self) -> str:
        if self.kind == "run":
            return "live drill: scripted attack on a local chain against the real monitor"
        return "tabletop exercise: facilitated discussion, phase by phase"


def participants_of(plan_doc: Mapping[str, Any] | None) -> list[str]:
    """``"Name (role, role)"`` for every person holding a role in the raw plan document."""
    if not plan_doc:
        return []
    people: Mapping[str, Any] = plan_doc.get("people") or {}
    held: dict[str, list[str]] = {}
    for role, spec in (plan_doc.get("roles") or {}).items():
        members = spec.get("members", []) if isinstance(spec, Mapping) else list(spec or [])
        for member in members:
            held.setdefault(str(member), []).append(str(role))
    out = []
    for person, roles in held.items():
        info = people.get(person)
        name = info.get("name", person) if isinstance(info, Mapping) else person
        out.append(f"{name} ({', '.join(roles)})")
    return out


def next_drill(drills: Drills | None, scenario: str, today: date) -> NextDrill:
    """The next drill of ``scenario``: today plus the plan's interval, or the default."""
    entry = next((d for d in (drills.schedule if drills else []) if d.scenario == scenario), None)
    if entry is None:
        return NextDrill(
            today + DEFAULT_INTERVAL,
            format_duration(DEFAULT_INTERVAL),
            f"default; add `{scenario}` to the plan's drills.schedule",
        )
    return NextDrill(today + entry.interval, format_duration(entry.interval), "drills.schedule")


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def run_findings(m: Mapping[str, Any], *, drain: bool) -> tuple[list[str], list[str]]:
    """Findings and corrective actions of a scripted drill from its measurements."""
    findings: list[str] = []
    actions: list[str] = []
    blocks, seconds = m.get("detect_blocks"), m.get("detect_seconds")
    if blocks is None:
        findings.append("no alert fired during the attack")
        actions.append("add a rule that detects this scenario and bind it to a playbook")
    else:
        timing = f" ({seconds:.2f} s after the attacker moved)" if seconds is not None else ""
        findings.append(
            f"detection took {blocks} block(s){timing}, rule(s) "
            f"{', '.join(m.get('alert_rules') or [])}"
        )
        if blocks > 0:
            actions.append("detect earlier: watch a preparation signal of this attack")
    pause, last = m.get("pause_block"), m.get("last_attack_block")
    if pause is None:
        findings.append("no containment transaction was mined")
        actions.append("check the playbook's signer, gas settings and verify condition")
    else:
        findings.append(
            f"containment landed in block {pause}, {m.get('contain_blocks')} "
            "block(s) after the first exploit block"
        )
        if last is not None and pause > last:
            findings.append("the pause landed after the attacker finished")
            actions.append("pre-sign the pause and raise its priority fee")
    if not m.get("contained"):
        findings.append("the protocol was not contained at the end of the drill")
        actions.append("make the containment step's verify condition hold, add a fallback")
    succeeded, sent = m.get("attack_txs_succeeded", 0), m.get("attack_txs", 0)
    findings.append(f"{succeeded} of {sent} attacker transactions succeeded")
    if drain:
        saved = m.get("saved_share")
        findings.append(f"funds saved: {_share(saved)} of the value at risk stayed in place")
        if saved is not None and saved < 1:
            actions.append("pause on a signal that comes before the first outflow")
    if not actions:
        actions.append("none from the measurements; review the team's notes")
    return findings, actions


def render_report(report: DrillReport, template: Path | None = None) -> str:
    """The report rendered with ``template`` (default: :data:`DEFAULT_TEMPLATE`)."""
    path = (template or DEFAULT_TEMPLATE).resolve()
    env = Environment(
        loader=FileSystemLoader(path.parent),
        autoescape=False,  # noqa: S701 - Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["share"] = _share
    return env.get_template(path.name).render(report=report, m=report.measurements)


def save_drill(
    sessions: sessionmaker[Session], report: DrillReport, report_path: Path | None
) -> int:
    """Store the drill; its id."""
    row = Drill(
        scenario=report.scenario,
        kind=report.kind,
        plan_sha256=report.plan_sha256,
        participants=report.participants,
        started_at=report.started_at,
        finished_at=report.finished_at,
        status=report.status,
        measurements=report.measurements,
        findings=[*report.findings, *(f"action: {a}" for a in report.corrective_actions)],
        answers=report.phases,
        report_path=str(report_path) if report_path is not None else None,
    )
    with sessions() as session:
        session.add(row)
        session.commit()
        return row.id


def stored_drill_dates(sessions: sessionmaker[Session]) -> dict[str, date]:
    """The date of the latest finished drill of every scenario (runs and tabletops)."""
    query = (
        select(Drill.scenario, func.max(Drill.finished_at))
        .where(Drill.finished_at.is_not(None))
        .group_by(Drill.scenario)
    )
    with sessions() as session:
        rows = session.execute(query).all()
    dates: dict[str, date] = {}
    for scenario, finished in rows:
        if isinstance(finished, datetime):
            dates[scenario] = (
                finished.astimezone(UTC).date() if finished.tzinfo else finished.date()
            )
        elif isinstance(finished, str):
            dates[scenario] = datetime.fromisoformat(finished).date()
    return dates


def stored_dates_provider(sessions: sessionmaker[Session]) -> Callable[[], dict[str, date]]:
    """A ``drills_schedule.drill_dates_provider`` reading the stored drills of ``sessions``."""
    return lambda: stored_drill_dates(sessions)
