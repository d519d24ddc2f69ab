"""The post-mortem of an incident, generated from the incident store, in Markdown, HTML or PDF.

:func:`postmortem_document` gathers everything as plain data: metadata and post-mortem status,
summary, impact per chain and asset, the UTC timeline, detection, root cause (5 whys), the
response times, what went well or wrong, luck, evidence, recovery against the plan's
compensation policy, action items, plan changes, public messaging and regulatory filings.
The people's fields come from ``postmortem-<id>.yaml`` (see
:mod:`breakglass.report.postmortem_notes`). :func:`write_postmortem` writes one format
atomically next to that file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from sqlalchemy.orm import Session

from breakglass.incidents.comms import public_updates
from breakglass.incidents.evidence import affected_addresses, attacker_records, fund_movements
from breakglass.incidents.roles import role_history
from breakglass.incidents.service import durations, get_incident, list_tasks
from breakglass.incidents.timeline import timeline
from breakglass.outputs import writing
from breakglass.plan.models import Plan
from breakglass.report.postmortem_chart import flow_svg, timeline_svg
from breakglass.report.postmortem_impact import (
    fmt_duration,
    fmt_usd,
    fmt_utc,
    impact_rows,
    recovery_against_policy,
)
from breakglass.report.postmortem_notes import (
    HumanNotes,
    PlanChange,
    PostmortemError,
    get_postmortem,
    load_notes,
    notes_path,
    open_plan_changes,
    plan_section_of,
    set_postmortem_status,
    sync_action_items,
    write_notes_template,
)
from breakglass.report.regulatory import clocks_for_incident
from breakglass.report.status import write_atomically
from breakglass.textsafe import strip_controls

if TYPE_CHECKING:
    from collections.abc import Mapping

    from breakglass.analysis import TxAnalysis
    from breakglass.analysis.assets import AssetInfo

__all__ = [
    "SECTIONS",
    "Format",
    "PlanChange",
    "PostmortemError",
    "fmt_duration",
    "open_plan_changes",
    "postmortem_document",
    "render_html",
    "render_markdown",
    "set_postmortem_status",
    "write_postmortem",
]

Format = Literal["md", "html", "pdf"]
SECTIONS = (
    "Summary",
    "Impact",
    "Timeline (UTC)",
    "Detection",
    "Root cause",
    "Response evaluation",
    "What went well",
    "What went wrong",
    "Where we were lucky",
    "On-chain evidence",
    "Recovery and compensation",
    "Action items",
    "Plan and runbook changes",
    "Public messaging",
    "Regulatory filings",
)
"""The section headings, in order, of every format."""

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_md_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=False,  # noqa: S701 - Markdown; text is escaped by the md filter instead
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _md(value: object) -> str:
    """Inline Markdown text: HTML-significant and table characters escaped, one line, and
    no link: ``[x](javascript:…)`` in an incident title must stay text."""
    text = " ".join(strip_controls(str(value)).split()).replace("\\", "\\\\")
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    for char in "`*_[]!":
        text = text.replace(char, "\\" + char)
    return text


_md_env.filters["md"] = _md


def postmortem_document(
    session: Session,
    incident_id: int,
    notes: HumanNotes,
    *,
    plan: Plan | None,
    now: datetime,
    analyses: list[TxAnalysis] | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> dict[str, Any]:
    """Everything a post-mortem shows, as plain data (see the module docstring); ``units``
    are the tokens' symbols and decimals by (chain, lower-case address), for the impact."""
    incident = get_incident(session, incident_id)
    record = get_postmortem(session, incident_id, now=now)
    events = timeline(session, incident_id)
    times = durations(incident)
    tasks = [t for t in list_tasks(session, incident_id) if t.source in ("incident", "post-mortem")]
    movements = fund_movements(session, incident_id)
    clocks = clocks_for_incident(session, plan, incident_id, now) if plan is not None else []
    alerts = [e for e in events if e.kind == "alert"]
    items = []
    for task in tasks:
        section, title = plan_section_of(task.title)
        items.append(
            {
                "id": task.id,
                "title": title,
                "owner": task.owner or "unassigned",
                "due": fmt_utc(task.due_at) if task.due_at else "none",
                "kind": task.kind,
                "source": task.source,
                "status": task.status,
                "plan_section": section,
            }
        )
    return {
        "meta": {
            "id": incident.id,
            "title": incident.title,
            "protocol": plan.protocol if plan is not None else "",
            "kind": incident.kind,
            "severity": incident.severity,
            "incident_status": incident.status,
            "status": record.status,
            "updated_at": fmt_utc(record.updated_at),
            "published_at": fmt_utc(record.published_at) if record.published_at else None,
            "generated_at": fmt_utc(now),
            "chains": ", ".join(incident.chains) or "n/a",
            "contracts": ", ".join(incident.contracts) or "n/a",
            "roles": [
                {"role": r.role, "person": r.person, "from": fmt_utc(r.assigned_at)}
                for r in role_history(session, incident_id)
            ],
        },
        "sections": SECTIONS,
        "summary": notes.summary or incident.summary,
        "impact": {
            "at_risk_usd": fmt_usd(incident.funds_at_risk_usd),
            "rows": impact_rows(session, incident_id, plan=plan, units=units),
        },
        "timeline": [
            {
                "at": fmt_utc(e.at),
                "kind": e.kind,
                "actor": e.actor or "",
                "summary": e.summary,
                "tx_hash": e.tx_hash or "",
                "block": "" if e.block_number is None else str(e.block_number),
            }
            for e in events
        ],
        "detection": {
            "started_at": fmt_utc(incident.started_at),
            "detected_at": fmt_utc(incident.detected_at),
            "time_to_detect": fmt_duration(times["time_to_detect"]),
            "first_alert": alerts[0].summary if alerts else None,
            "alerts": len(alerts),
        },
        "root_cause": notes.root_cause,
        "five_whys": notes.five_whys,
        "response": [
            {"measure": "time to acknowledge", "value": fmt_duration(times["time_to_acknowledge"])},
            {"measure": "time to contain", "value": fmt_duration(times["time_to_contain"])},
            {"measure": "time to resolve", "value": fmt_duration(times["time_to_resolve"])},
        ],
        "went_well": notes.went_well,
        "went_wrong": notes.went_wrong,
        "lucky": notes.lucky,
        "evidence": {
            "addresses": [
                {"chain": a.chain, "address": a.address, "status": a.status, "note": a.note}
                for a in affected_addresses(session, incident_id)
            ],
            "movements": [
                {
                    "chain": m.chain,
                    "tx_hash": m.tx_hash,
                    "origin": m.origin,
                    "destination": m.destination,
                    "destination_kind": m.destination_kind,
                    "asset": m.asset,
                    "amount": m.amount,
                    "usd": fmt_usd(m.usd_value),
                    "recovery_status": m.recovery_status,
                }
                for m in movements
            ],
            "attacker": [
                {"kind": r.kind, "value": r.value, "note": r.note}
                for r in attacker_records(session, incident_id)
            ],
        },
        "eradication": _fix_rows(session, incident_id),
        "recovery": recovery_against_policy(session, plan, incident_id),
        "action_items": items,
        "plan_changes": notes.plan_changes,
        "plan_items": [i for i in items if i["plan_section"]],
        "updates": [
            {"at": fmt_utc(u.published_at), "status": u.status, "title": u.title, "body": u.body}
            for u in public_updates(session, incident_id)
        ],
        "filings": [
            {
                "regime": c.regime,
                "name": c.name,
                "recipient": c.recipient,
                "due": fmt_utc(c.due),
                "status": str(c.status),
                "filed_at": fmt_utc(c.filed_at) if c.filed_at else "",
                "late": c.late,
            }
            for c in clocks
        ],
        "chart": {"events": events, "incident": incident},
        "analyses": analyses or [],
        "movement_rows": movements,
    }


def _fix_rows(session: Session, incident_id: int) -> list[dict[str, str]]:
    """One row per fix verification stored on the incident's timeline."""
    from breakglass.recovery.fix_service import fix_reports  # noqa: PLC0415

    rows = []
    for report in fix_reports(session, incident_id):
        exploits, honest = report["exploits"], report["regressions"]
        problems = sum(len(u["problems"]) for u in report["upgrades"])
        rows.append(
            {
                "fix": f"{report['fix']['name']} ({report['fix']['sha256'][:12]})",
                "verdict": report["verdict"],
                "exploit": f"{sum(e['stopped'] for e in exploits)} of {len(exploits)} stopped",
                "honest": f"{sum(not r['same'] for r in honest)} of {len(honest)} differ",
                "upgrades": f"{problems} problem(s)" if problems else "safe",
                "reasons": "; ".join(report["reasons"]),
            }
        )
    return rows


def render_markdown(document: dict[str, Any]) -> str:
    """The post-mortem as Markdown; every stored or written text is escaped."""
    return _md_env.get_template("postmortem.md.j2").render(doc=document)


def render_html(document: dict[str, Any]) -> str:
    """The post-mortem as one static HTML page with SVG charts; text escaped by autoescape."""
    from breakglass.analysis.render import render_svg  # noqa: PLC0415 - Rich is slow to import

    chart = document["chart"]
    flows = [render_svg(a).split("?>", 1)[-1] for a in document["analyses"]]
    if not flows and document["movement_rows"]:
        flows = [flow_svg(document["movement_rows"])]
    pictures = {
        # Both are built with ElementTree, which escapes every text and attribute.
        "timeline": Markup(timeline_svg(chart["events"], chart["incident"])),  # noqa: S704
        "flows": [Markup(svg) for svg in flows],  # noqa: S704
    }
    return _env.get_template("postmortem.html.j2").render(doc=document, pictures=pictures)


def write_postmortem(
    session: Session,
    incident_id: int,
    fmt: Format,
    out_dir: Path,
    *,
    plan: Plan | None,
    now: datetime | None = None,
    actor: str = "breakglass",
    analyses: list[TxAnalysis] | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> tuple[Path, Path]:
    """Write ``postmortem-<id>.<fmt>`` into ``out_dir``; create the notes file next to it on
    the first run (never overwritten), turn its action items into tasks, and return the
    report's and the notes' paths. Flushes; the caller commits."""
    when = now or datetime.now(UTC)
    incident = get_incident(session, incident_id)
    notes_file = notes_path(out_dir, incident_id)
    write_notes_template(notes_file, incident_id, incident.title)
    notes = load_notes(notes_file)
    sync_action_items(session, incident_id, notes, actor=actor)
    document = postmortem_document(
        session, incident_id, notes, plan=plan, now=when, analyses=analyses, units=units
    )
    target = out_dir / f"postmortem-{incident_id}.{fmt}"
    if fmt == "md":
        data = render_markdown(document).encode("utf-8")
    elif fmt == "html":
        data = render_html(document).encode("utf-8")
    else:
        from breakglass.report.postmortem_pdf import render_pdf  # noqa: PLC0415

        data = render_pdf(document)
    with writing(target):
        write_atomically(target, data)
    return target, notes_file
