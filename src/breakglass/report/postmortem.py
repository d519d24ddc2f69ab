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
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from sqlalchemy.orm import Session

from breakglass.analysis.assets import plan_names
from breakglass.analysis.headline import headline_figures
from breakglass.incidents.comms import public_updates
from breakglass.incidents.evidence import fund_movements
from breakglass.incidents.roles import role_history
from breakglass.incidents.service import get_incident, list_tasks
from breakglass.incidents.timeline import timeline
from breakglass.outputs import writing
from breakglass.plan.models import Plan
from breakglass.report.postmortem_chart import flow_svg, timeline_svg
from breakglass.report.postmortem_impact import (
    fmt_utc,
    impact_rows,
    price_statement,
    recovery_against_policy,
    user_rows,
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
from breakglass.report.postmortem_sections import (
    background,
    disclosure,
    explorers,
    references,
    regulatory_rows,
    response_actions,
    response_times,
    seal_meta,
    timeline_rows,
)
from breakglass.report.status import write_atomically
from breakglass.report.timeline_view import people_timeline
from breakglass.report.wording import incident_words
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
    "Background",
    "Timeline (UTC)",
    "Root cause",
    "Impact",
    "Response actions",
    "Response times",
    "Remediation",
    "Compensation",
    "Third-party disclosure and public messaging",
    "Regulatory filings",
    "What went well",
    "What went wrong",
    "Where we were lucky",
    "Lessons and plan changes",
    "Action items",
    "References",
)
"""The section headings, in order, of every format."""
ANCHORS = (
    "summary", "background", "timeline", "root-cause", "impact", "response-actions",
    "response-times", "remediation", "compensation", "disclosure", "regulatory", "went-well",
    "went-wrong", "lucky", "lessons", "action-items", "references",
)  # fmt: skip
"""The HTML ids of the sections, in the same order."""

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


def _url(value: object) -> str:
    """A link target: http(s) only (anything else becomes ``#``), with the characters that
    would end a Markdown link or an HTML attribute percent-encoded."""
    text = str(value).strip()
    if not text.startswith(("https://", "http://")):
        return "#"
    return quote(text, safe=":/?#[]@!$&'*+,;=%-._~")


_md_env.filters["md"] = _md
_md_env.filters["url"] = _url
_env.filters["url"] = _url


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
    """Everything a post-mortem shows, as plain data of text (see the module docstring);
    ``units`` are the tokens' symbols and decimals by (chain, lower-case address)."""
    incident = get_incident(session, incident_id)
    record = get_postmortem(session, incident_id, now=now)
    events = timeline(session, incident_id)
    links = explorers(plan)
    chain = incident.chains[0] if incident.chains else None
    rows = people_timeline(events, chain=chain, explorers=links)
    words = incident_words(session, incident_id=incident_id, plan=plan, units=units)
    figures = headline_figures(session, incident_id=incident_id, units=units)
    names = plan_names(plan) if plan is not None else {}
    tasks = [t for t in list_tasks(session, incident_id) if t.source in ("incident", "post-mortem")]
    movements = fund_movements(session, incident_id)
    alerts = [e for e in events if e.kind == "alert"]
    items = []
    for task in tasks:
        section, title = plan_section_of(task.title)
        items.append(
            {
                "id": str(task.id),
                "title": title,
                "owner": task.owner or "unassigned",
                "due": f"{task.due_at:%Y-%m-%d}" if task.due_at else "no deadline",
                "kind": task.kind,
                "status": task.status,
                "plan_section": section or "",
            }
        )
    return {
        "meta": {
            "id": incident.id,
            "title": words.title,
            "protocol": plan.protocol if plan is not None else "",
            "kind": incident.kind.replace("-", " "),
            "severity": incident.severity,
            "incident_status": incident.status,
            "status": record.status,
            "updated_at": fmt_utc(record.updated_at),
            "published_at": fmt_utc(record.published_at) if record.published_at else "not yet",
            "generated_at": fmt_utc(now),
            "chains": ", ".join(incident.chains) or "none recorded",
            "contracts": ", ".join(incident.contracts) or "none recorded",
            "roles": [
                {
                    "role": r.role.replace("_", " "),
                    "person": r.person,
                    "from": fmt_utc(r.assigned_at),
                }
                for r in role_history(session, incident_id)
            ],
            **seal_meta(session, incident, notes, plan, record.status),
        },
        "sections": SECTIONS,
        "anchors": ANCHORS,
        "summary": notes.summary or words.summary,
        "background": background(plan, incident, notes),
        "timeline": timeline_rows(rows),
        "root_cause": notes.root_cause,
        "five_whys": notes.five_whys,
        "impact": {
            "funds": [{"figure": label, "value": value} for label, value in figures.rows()[:5]],
            "rows": impact_rows(session, incident_id, plan=plan, units=units),
            "price": price_statement(session, incident_id),
            "users": user_rows(session, incident_id, units=units, names=names),
        },
        "response": response_actions(rows),
        "times": response_times(incident),
        "detection": {
            "started_at": fmt_utc(incident.started_at),
            "detected_at": fmt_utc(incident.detected_at),
            "first_alert": rows[0].text if rows and rows[0].kind == "alert" else "none",
            "alerts": str(len(alerts)),
        },
        "remediation": notes.remediation,
        "eradication": _fix_rows(session, incident_id),
        "recovery": recovery_against_policy(session, plan, incident_id, units=units),
        "disclosure": {
            "text": notes.disclosure,
            "parties": disclosure(session, plan, incident_id),
            "updates": [
                {
                    "at": fmt_utc(u.published_at),
                    "status": u.status,
                    "title": u.title,
                    "body": u.body,
                }
                for u in public_updates(session, incident_id)
            ],
        },
        "filings": regulatory_rows(session, plan, incident_id, now),
        "went_well": notes.went_well,
        "went_wrong": notes.went_wrong,
        "lucky": notes.lucky,
        "lessons": notes.lessons,
        "plan_changes": notes.plan_changes,
        "plan_items": [i for i in items if i["plan_section"]],
        "action_items": items,
        "references": references(session, incident_id, plan, rows, notes),
        "chart": {"events": events, "incident": incident},
        "analyses": analyses or [],
        "movement_rows": movements,
        "units": dict(units or {}),
        "names": names,
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
    by_token = {asset: info for (_chain, asset), info in document["units"].items()}
    flows = [render_svg(a, by_token).split("?>", 1)[-1] for a in document["analyses"]]
    if not flows and document["movement_rows"]:
        flows = [
            flow_svg(document["movement_rows"], names=document["names"], units=document["units"])
        ]
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
