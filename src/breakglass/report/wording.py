"""An incident's title and summary in plain words.

An incident opened by the desk is titled with its first alert ("110,000 dUSD left pool to
0x663f…6602") and summarised by the rule's documentation: right for a pager, wrong for a
reader. Until the incident lead writes them (``breakglass incident edit``), readers get a
title and a summary generated from what breakglass stored: the protocol and contract, what
happened to it, how, and how it was contained ("Demo Lending pool drained through price
manipulation; paused in the next block"). What a person wrote always wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.analysis.assets import AssetInfo, name_address, plan_names
from breakglass.analysis.headline import headline_figures
from breakglass.incidents.evidence import fund_movements
from breakglass.incidents.service import durations, get_incident
from breakglass.incidents.timeline import timeline
from breakglass.plan.models import Plan
from breakglass.report.timeline_view import TimelineRow, people_timeline, short_hash, span_text
from breakglass.store.models import AlertRecord, Incident, IncidentAlert

__all__ = ["IncidentWords", "generated_title", "incident_alerts", "incident_words"]

_HAPPENED = {
    "large-outflow": "drained",
    "balance-drop": "drained",
    "tvl-drop": "drained",
    "flash-loan-profit": "drained",
    "reentrancy": "re-entered",
    "unexpected-mint": "minted without authorisation",
    "ownership-transferred": "taken over",
    "role-granted": "given a new privileged role",
    "oracle-deviation": "priced by a deviating oracle",
    "oracle-stale": "priced by a stale oracle",
    "depeg": "hit by a depeg",
    "exploit": "exploited",
}
_PRICE_WORDS = ("oracle", "price")


@dataclass(frozen=True, slots=True)
class IncidentWords:
    """The title and summary to show, and whether a person wrote each."""

    title: str
    summary: str
    title_authored: bool
    summary_authored: bool


def incident_alerts(session: Session, incident_id: int) -> list[AlertRecord]:
    """The alerts attached to an incident, the first exploit block's first."""
    query = (
        select(AlertRecord)
        .join(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
        .where(IncidentAlert.incident_id == incident_id)
        .order_by(AlertRecord.block_number, AlertRecord.id)
    )
    return list(session.scalars(query))


def _through(session: Session, incident: Incident, plan: Plan | None, kinds: set[str]) -> str:
    """How it happened, where the records say: money moved through a contract the plan
    describes as a price source, or an oracle rule fired."""
    if any(k.startswith("oracle") or k == "depeg" for k in kinds):
        return " through price manipulation"
    if plan is None:
        return ""
    pricing = {
        c.address.lower()
        for name, c in plan.contracts.items()
        if any(w in f"{name} {c.description or ''}".lower() for w in _PRICE_WORDS)
    }
    watched = {plan.contracts[c].address.lower() for c in incident.contracts if c in plan.contracts}
    for move in fund_movements(session, incident.id):
        ends = {move.origin.lower(), move.destination.lower()}
        if ends & pricing and not ends <= watched:
            return " through price manipulation"
    return ""


def _contained(rows: Sequence[TimelineRow], first_block: int | None, incident: Incident) -> str:
    for row in rows:
        if row.kind != "action" or row.block is None:
            continue
        verb = row.text.split(" — ", 1)[0].split(" ")
        past = verb[1] if len(verb) > 2 else "contained"
        if first_block is None:
            return f"; {past} in block {row.block}"
        gap = row.block - first_block
        when = {0: "the same block", 1: "the next block"}.get(gap, f"{gap} blocks later")
        return f"; {past} in {when}"
    spans = durations(incident)["time_to_contain"]
    if spans is not None:
        return f"; contained {span_text(spans.total_seconds())} after detection"
    return ""


def generated_title(
    session: Session,
    incident: Incident,
    plan: Plan | None,
    *,
    rows: Sequence[TimelineRow] | None = None,
) -> str:
    """The title in plain words: protocol, contract, what happened, how, and containment."""
    alerts = incident_alerts(session, incident.id)
    kinds = {a.kind for a in alerts} | {incident.kind}
    protocol = plan.protocol if plan is not None else ""
    target = incident.contracts[0] if incident.contracts else ""
    subject = " ".join(p for p in (protocol, target) if p) or "Incident"
    happened = _HAPPENED.get(incident.kind)
    if happened is None:  # a kind without a verb: name it rather than invent one
        happened = f"incident: {incident.kind.replace('-', ' ')}"
    if rows is None:
        rows = people_timeline(timeline(session, incident.id))
    first_block = min((a.block_number for a in alerts), default=None)
    how = _through(session, incident, plan, kinds)
    return f"{subject} {happened}{how}{_contained(rows, first_block, incident)}"


def _generated_summary(
    session: Session,
    incident: Incident,
    plan: Plan | None,
    rows: Sequence[TimelineRow],
    units: Mapping[tuple[str, str], AssetInfo] | None,
) -> str:
    alerts = incident_alerts(session, incident.id)
    names = plan_names(plan) if plan is not None else {}
    figures = headline_figures(session, incident_id=incident.id, units=units)
    chain = ", ".join(incident.chains) or "its chain"
    sentences = []
    target = " and ".join(incident.contracts) or "the protocol"
    protocol = f"{plan.protocol}'s " if plan is not None else ""
    if alerts:
        first = alerts[0]
        when = f"{first.block_time:%Y-%m-%d %H:%M} UTC" if first.block_time else "an unknown time"
        attacker = str(first.data.get("to") or "") if isinstance(first.data, dict) else ""
        to = f" to {name_address(attacker, names)}" if attacker.startswith("0x") else ""
        sentences.append(
            f"On {when}, in block {first.block_number} on {chain}, funds left {protocol}"
            f"{target}{to} (transaction {short_hash(first.tx_hash or '')})."
            if incident.kind in ("large-outflow", "balance-drop", "tvl-drop")
            else f"On {when}, in block {first.block_number} on {chain}, breakglass saw: "
            f"{first.title}."
        )
    else:
        sentences.append(f"Detected on {incident.detected_at:%Y-%m-%d %H:%M} UTC on {chain}.")
    if alerts:
        sentences.append(f"The alert came {figures.time_to_detect} after it began.")
    action = next((r for r in rows if r.kind == "action" and r.tx_hash), None)
    if action is not None:
        done = action.text.split(" — ", 1)[0]
        block = f" in block {action.block}" if action.block is not None else ""
        sentences.append(f"Containment: {done}{block}, {figures.time_to_contain} after detection.")
    elif incident.contained_at is not None:
        sentences.append(f"Contained {figures.time_to_contain} after detection.")
    money = []
    for label, value in (
        ("at risk", figures.funds_at_risk),
        ("lost", figures.lost),
        ("saved", figures.funds_saved),
    ):
        if value != "not measured":
            money.append(f"{value} {label}")
    if money:
        sentences.append("Funds: " + "; ".join(money) + ".")
    if figures.users_affected not in ("not measured", "0"):
        sentences.append(f"{figures.users_affected} users lost funds.")
    return " ".join(sentences)


def incident_words(
    session: Session,
    *,
    incident_id: int,
    plan: Plan | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> IncidentWords:
    """The title and summary of an incident to show people: what the incident lead wrote,
    else generated from the stored records (see the module docstring).

    Raises:
        IncidentNotFound: no such incident.
    """
    incident = get_incident(session, incident_id)
    title, summary = incident.title, incident.summary
    title_authored, summary_authored = incident.title_authored, incident.summary_authored
    chain = incident.chains[0] if incident.chains else None
    rows = people_timeline(timeline(session, incident_id), chain=chain)
    if not title_authored:
        title = generated_title(session, incident, plan, rows=rows)
    if not summary_authored:
        summary = _generated_summary(session, incident, plan, rows, units)
    return IncidentWords(title, summary, title_authored, summary_authored)
