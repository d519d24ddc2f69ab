"""The sections of a post-mortem that published ones share and that SEAL's template adds:
authors and draft/final, background, the timeline with blocks and transaction links, the
response actions with their transactions, response times, third-party disclosure, regulatory
filings ("not applicable: <reason>" where a regime did not apply) and references.

Each builder returns plain rows of text, ready for Markdown, HTML and PDF alike: no Python
value reaches a reader (booleans, ``None`` and lists are put in words here).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.analysis.assets import explorer_link
from breakglass.analysis.headline import span_text
from breakglass.incidents.evidence import attacker_records, fund_movements
from breakglass.incidents.roles import role_history
from breakglass.incidents.service import durations
from breakglass.plan.models import Plan
from breakglass.report.postmortem_notes import HumanNotes
from breakglass.report.regulatory import Status, clocks_for_incident
from breakglass.report.timeline_view import TimelineRow, short_hash
from breakglass.store.models import Incident, TimelineEvent

__all__ = [
    "background",
    "disclosure",
    "explorers",
    "references",
    "regulatory_rows",
    "response_actions",
    "response_times",
    "seal_meta",
    "timeline_rows",
]

_AUTHOR_ROLES = ("incident_lead", "scribe")


def explorers(plan: Plan | None) -> dict[str, str | None]:
    """Explorer base URL by chain name, from the plan."""
    return {name: chain.explorer for name, chain in plan.chains.items()} if plan else {}


def _person(plan: Plan | None, key: str) -> str:
    person = plan.people.get(key) if plan is not None else None
    return person.name if person is not None and person.name else key


def seal_meta(
    session: Session, incident: Incident, notes: HumanNotes, plan: Plan | None, status: str
) -> dict[str, Any]:
    """Authors, draft or final, and the confidentiality marking of the title page."""
    authors = list(notes.authors)
    if not authors:
        holders = [r for r in role_history(session, incident.id) if r.role in _AUTHOR_ROLES]
        for role in _AUTHOR_ROLES:
            authors += [
                _person(plan, r.person) for r in holders if r.role == role and r.released_at is None
            ]
        authors = list(dict.fromkeys(authors))
    final = status == "published"
    marking = notes.confidentiality or (
        "Public" if final else "Confidential: draft for the response team, not for distribution"
    )
    return {
        "authors": ", ".join(authors) or "not named: add authors to the notes file",
        "state": "final" if final else "draft",
        "confidentiality": marking,
    }


def background(plan: Plan | None, incident: Incident, notes: HumanNotes) -> list[str]:
    """What the protocol and the affected contracts do: the team's words, else the plan's."""
    if notes.background:
        return [notes.background]
    if plan is None:
        return []
    lines = [f"{plan.protocol}: {plan.description}"] if plan.description else []
    for name in incident.contracts:
        contract = plan.contracts.get(name)
        if contract is not None:
            where = f"{contract.chain}, {contract.address}"
            text = f"{name} ({where})" + (
                f": {contract.description}" if contract.description else ""
            )
            lines.append(text)
    return lines


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def timeline_rows(rows: Sequence[TimelineRow]) -> list[dict[str, str]]:
    """The timeline for people as table rows: UTC time, block, event, transaction."""
    return [
        {
            "at": _utc(r.at),
            "block": "" if r.block is None else str(r.block),
            "event": r.text,
            "tx": short_hash(r.tx_hash) if r.tx_hash else "",
            "tx_url": r.tx_url or "",
        }
        for r in rows
    ]


def response_actions(rows: Sequence[TimelineRow]) -> list[dict[str, str]]:
    """The response's actions (the playbook steps and what people did), with transactions."""
    picked = [r for r in rows if r.kind.startswith("action")]
    return [
        {
            "at": _utc(r.at),
            "action": r.text,
            "result": "failed" if r.kind == "action-failed" else "done",
            "block": "" if r.block is None else str(r.block),
            "tx": short_hash(r.tx_hash) if r.tx_hash else "",
            "tx_url": r.tx_url or "",
        }
        for r in picked
    ]


def response_times(incident: Incident) -> list[dict[str, str]]:
    """Time to detect (from the first exploit block), to acknowledge, contain and recover
    (from detection), in the one duration format of every output."""
    spans = durations(incident)
    return [
        {"measure": "time to detect", "value": span_text(spans["time_to_detect"])},
        {"measure": "time to acknowledge", "value": span_text(spans["time_to_acknowledge"])},
        {"measure": "time to contain", "value": span_text(spans["time_to_contain"])},
        {"measure": "time to recover", "value": span_text(spans["time_to_resolve"])},
    ]


def disclosure(session: Session, plan: Plan | None, incident_id: int) -> list[dict[str, str]]:
    """Each third party the plan names, when to engage it, and whether it was engaged."""
    query = select(TimelineEvent).where(
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "external"
    )
    engaged = {str(e.data.get("party")): e for e in session.scalars(query)}
    rows = []
    for name, party in plan.external_parties.items() if plan is not None else []:
        event = engaged.pop(name, None)
        rows.append(
            {
                "party": f"{name} ({party.kind})",
                "contact": party.contact or "none in the plan",
                "when": party.engage_when or party.engage_if or "not stated",
                "engaged": f"{_utc(event.at)} UTC" if event is not None else "not recorded",
            }
        )
    for name, event in engaged.items():
        rows.append(
            {
                "party": name,
                "contact": "not in the plan",
                "when": "not stated",
                "engaged": f"{_utc(event.at)} UTC",
            }
        )
    return rows


def regulatory_rows(
    session: Session, plan: Plan | None, incident_id: int, now: datetime
) -> list[dict[str, str]]:
    """Each regime's filings, or "not applicable: <reason>" where it did not apply."""
    regulatory = plan.regulatory if plan is not None else None
    if regulatory is None:
        reason = "the plan names no regulatory regime (regulatory section missing)"
        return [{"regime": "every regime", "filing": "", "due": "",
                 "status": f"not applicable: {reason}"}]  # fmt: skip
    if not regulatory.applies:
        reason = regulatory.reason or "the plan says no regime applies"
        return [{"regime": "every regime", "filing": "", "due": "",
                 "status": f"not applicable: {reason}"}]  # fmt: skip
    assert plan is not None
    rows = []
    by_regime: dict[str, list[Any]] = {}
    for clock in clocks_for_incident(session, plan, incident_id, now):
        by_regime.setdefault(clock.regime, []).append(clock)
    for regime_id in regulatory.regimes:
        clocks = by_regime.get(regime_id, [])
        if all(c.status is Status.NOT_STARTED for c in clocks):
            events = ", ".join(sorted({c.start_event.replace("_", " ") for c in clocks}))
            reason = f"its clock never started (no {events} recorded)" if events else "no deadline"
            rows.append({"regime": regime_id, "filing": "", "due": "",
                         "status": f"not applicable: {reason}"})  # fmt: skip
            continue
        for c in clocks:
            if c.status is Status.FILED and c.filed_at is not None:
                state = f"filed {_utc(c.filed_at)} UTC" + (" (late)" if c.late else "")
            elif c.status is Status.NOT_STARTED:
                state = f"not started (no {c.start_event.replace('_', ' ')} recorded)"
            else:
                state = str(c.status)
            rows.append(
                {
                    "regime": regime_id,
                    "filing": f"{c.name} to {c.recipient}",
                    "due": f"{_utc(c.due)} UTC" if c.due is not None else "",
                    "status": state,
                }
            )
    for duty in regulatory.duties:
        rows.append(
            {
                "regime": duty.id,
                "filing": f"{duty.jurisdiction}: {duty.trigger}",
                "due": f"{duty.deadline} after the trigger",
                "status": "tracked by hand (no shipped regime)",
            }
        )
    return rows


def references(
    session: Session,
    incident_id: int,
    plan: Plan | None,
    rows: Sequence[TimelineRow],
    notes: HumanNotes,
) -> list[dict[str, str]]:
    """Transactions, attacker and affected addresses in full, with explorer links, and the
    team's own references."""
    links = explorers(plan)
    chain = next(iter(links), None)
    seen: set[str] = set()
    refs: list[dict[str, str]] = []

    def add(what: str, value: str, url: str | None) -> None:
        if value.lower() not in seen:
            seen.add(value.lower())
            refs.append({"what": what, "value": value, "value_url": url or ""})

    for row in rows:
        if row.tx_hash:
            label = "exploit transaction" if row.kind == "alert" else f"{row.text.split(' — ')[0]}"
            add(label, row.tx_hash, row.tx_url)
    for move in fund_movements(session, incident_id):
        add("fund movement", move.tx_hash, explorer_link(links.get(move.chain), "tx", move.tx_hash))
    for record in attacker_records(session, incident_id):
        url = explorer_link(links.get(chain or ""), "address", record.value)
        add(f"attacker {record.kind}", record.value, url if record.value.startswith("0x") else None)
    for text in notes.references:
        add("reference", text, text if text.startswith(("https://", "http://")) else None)
    return refs
