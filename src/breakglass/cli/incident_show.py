"""``breakglass incident show``: one incident for people.

The title and summary are the incident lead's, else generated in plain words; the headline
gives the figures and the times to detect, contain and recover (once, in one format); the
timeline is the one for people, a playbook step per row, with ``--detail`` adding the stored
phases under each row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.listing import table_with
from breakglass.cli.options import default_plan
from breakglass.plan import load_plan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.analysis.assets import AssetInfo
    from breakglass.plan.models import Plan

__all__ = ["incident_units", "show_incident"]


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


def _table(title: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    if not rows:
        return
    ids = ("id", "tx", "address", "from", "to", "value")  # hashes and addresses stay whole
    table = table_with(columns, ids=ids, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


def incident_units(
    plan: Plan | None, session: Session, incident_id: int
) -> dict[tuple[str, str], AssetInfo]:
    """Symbol and decimals of the tokens the incident's losses, fund movements and funds at
    risk name: those kept in the database once read, the others read through the plan's
    endpoints (and kept, so the figures stay in tokens once the chain is gone); without a
    plan, only the kept ones (base units for the rest)."""
    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.analysis.unit_store import known_units  # noqa: PLC0415
    from breakglass.incidents import get_incident  # noqa: PLC0415
    from breakglass.incidents.evidence import fund_movements  # noqa: PLC0415
    from breakglass.store.models import UserLoss  # noqa: PLC0415

    query = select(UserLoss.chain, UserLoss.asset).where(UserLoss.incident_id == incident_id)
    wanted = {(chain, asset) for chain, asset in session.execute(query)}
    wanted |= {(m.chain, m.asset) for m in fund_movements(session, incident_id)}
    at_risk = get_incident(session, incident_id).funds_at_risk or []
    wanted |= {(str(x.get("chain")), str(x.get("asset"))) for x in at_risk}
    if not wanted:
        return {}
    found, notes = known_units(session, plan, wanted)
    for note in notes:
        err.print(note, markup=False)
    return found


def show_incident(
    session: Session, incident_id: int, plan_file: Path | None, *, detail: bool
) -> None:
    """Print the incident (see the module docstring)."""
    from breakglass import incidents as inc  # noqa: PLC0415
    from breakglass.analysis.headline import headline_figures, span_text  # noqa: PLC0415
    from breakglass.report.timeline_view import people_timeline  # noqa: PLC0415
    from breakglass.report.wording import incident_words  # noqa: PLC0415

    i = inc.get_incident(session, incident_id)
    found = default_plan(plan_file)
    plan = load_plan(found).plan if found is not None else None
    units = incident_units(plan, session, incident_id)
    words = incident_words(session, incident_id=incident_id, plan=plan, units=units)
    out.print(escape(f"incident #{i.id} [{i.severity}] {i.status}: {words.title}"))
    if not words.title_authored:
        out.print(escape(f"first alert: {i.title} (title generated; `incident edit` sets one)"))
    extra = f", duplicate of #{i.duplicate_of}" if i.duplicate_of else ""
    out.print(
        escape(
            f"kind {i.kind}, chains {', '.join(i.chains) or '-'}, contracts "
            f"{', '.join(i.contracts) or '-'}{extra}"
        )
    )
    if words.summary:
        out.print(escape(words.summary))
    figures = headline_figures(session, incident_id=i.id, units=units)
    _table("headline", ("figure", "value"), figures.rows())
    milestones = [
        ("started", _when(i.started_at)),
        ("detected", _when(i.detected_at)),
        ("acknowledged", _when(i.acknowledged_at)),
        ("contained", _when(i.contained_at)),
        ("recovered", _when(i.resolved_at)),  # named as the status that stamps it
        ("closed", _when(i.closed_at)),
        ("next update", _when(i.next_update_at)),
    ]
    _table("milestones", ("milestone", "at (UTC)"), milestones)
    # The headline gives detect, contain and recover; only acknowledge is left to say.
    acknowledge = span_text(inc.durations(i)["time_to_acknowledge"])
    _table("durations", ("measure", "duration"), [("time to acknowledge", acknowledge)])
    history = [
        (r.role, r.person, _when(r.assigned_at), _when(r.released_at) if r.released_at else "")
        for r in inc.role_history(session, incident_id)
    ]
    _table("roles", ("role", "person", "from", "until"), history)
    chain = i.chains[0] if i.chains else None
    rows = people_timeline(
        inc.timeline(session, incident_id), chain=chain, explorers=_links(plan), include_tasks=True
    )
    lines: list[tuple[str, ...]] = []
    for row in rows:
        block = "" if row.block is None else str(row.block)
        lines.append((_when(row.at), block, row.text, row.tx_url or row.tx_hash or ""))
        if detail:
            lines += [("", "", f"  · {d}", "") for d in row.details]
    _table("timeline", ("at (UTC)", "block", "event", "tx"), lines)
    _evidence(session, incident_id)


def _links(plan: Plan | None) -> dict[str, str | None]:
    from breakglass.report.postmortem_sections import explorers  # noqa: PLC0415

    return explorers(plan)


def _evidence(session: Session, incident_id: int) -> None:
    from breakglass import incidents as inc  # noqa: PLC0415

    tasks = [
        (
            str(t.id),
            t.kind,
            t.status,
            t.owner or "",
            _when(t.due_at) if t.due_at else "",
            t.title,
        )
        for t in inc.list_tasks(session, incident_id)
    ]
    _table("tasks", ("id", "kind", "status", "owner", "due", "title"), tasks)
    addresses = [
        (a.chain, a.address, a.status, a.note) for a in inc.affected_addresses(session, incident_id)
    ]
    _table("affected addresses", ("chain", "address", "status", "note"), addresses)
    moves = [
        (
            m.tx_hash,
            m.origin,
            f"{m.amount} {m.asset}",
            m.destination,
            m.destination_kind,
            m.recovery_status,
        )
        for m in inc.fund_movements(session, incident_id)
    ]
    _table("fund movements", ("tx", "from", "amount", "to", "kind", "recovery"), moves)
    attacker = [(r.kind, r.value, r.note) for r in inc.attacker_records(session, incident_id)]
    _table("attacker", ("kind", "value", "note"), attacker)
