"""An incident's headline figures for people: funds at risk, lost, saved and recovered, users
affected, and the times to detect, contain and recover, from what breakglass stored.

A figure nothing measured reads "not measured", so a reader can tell it from zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.analysis.assets import AssetInfo, cached_asset, format_amount
from breakglass.incidents.evidence import fund_movements
from breakglass.incidents.service import durations, get_incident
from breakglass.store.models import UserLoss

__all__ = ["NOT_MEASURED", "Headline", "headline_figures", "span_text"]

NOT_MEASURED = "not measured"


@dataclass(frozen=True, slots=True)
class Headline:
    """Each figure as text, ready to show."""

    funds_at_risk: str
    lost: str
    funds_saved: str
    recovered_or_frozen: str
    users_affected: str
    time_to_detect: str
    time_to_contain: str
    time_to_recover: str

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs in reading order."""
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]


def span_text(delta: timedelta | None) -> str:
    """A duration for people, in one format everywhere: ``0.2 s``, ``12 s``,
    ``4 min 05 s``, ``2 h 04 min``, ``3 d 02 h``; "not measured" when unknown. Under ten
    seconds it keeps a tenth, because a pause 0.2 s after detection is not "0s"."""
    if delta is None:
        return NOT_MEASURED
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _at_risk(stored: object) -> dict[tuple[str, str], int]:
    """The incident's funds at risk in tokens (``[{chain, asset, amount}]``, base units)."""
    amounts: dict[tuple[str, str], int] = defaultdict(int)
    for item in stored if isinstance(stored, list) else []:
        if isinstance(item, dict) and str(item.get("amount", "")).isdigit():
            amounts[str(item.get("chain")), str(item.get("asset")).lower()] += int(item["amount"])
    return amounts


def _per_asset(
    amounts: Mapping[tuple[str, str], int], units: Mapping[tuple[str, str], AssetInfo] | None
) -> str:
    if not amounts:
        return NOT_MEASURED
    parts = []
    for (chain, asset), value in sorted(amounts.items()):
        info = (units or {}).get((chain, asset)) or cached_asset(chain=chain, address=asset)
        if info is None or info.decimals is None:
            parts.append(f"{value:,} base units of {asset}")
        else:
            parts.append(format_amount(value, decimals=info.decimals, symbol=info.symbol or asset))
    return ", ".join(parts)


def headline_figures(
    session: Session,
    *,
    incident_id: int,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> Headline:
    """The headline of incident ``incident_id``.

    Args:
        session: an open session.
        incident_id: the incident.
        units: symbol and decimals by (chain, lower-case token address); tokens missing here
            use what this process read before, else stay in base units.

    Raises:
        IncidentNotFound: no such incident.
    """
    incident = get_incident(session, incident_id)
    lost: dict[tuple[str, str], int] = defaultdict(int)
    users: set[str] = set()
    usd = 0.0
    priced = True
    query = select(UserLoss).where(UserLoss.incident_id == incident_id)
    for loss in session.scalars(query):
        lost[loss.chain, loss.asset.lower()] += int(loss.amount)
        users.add(loss.address.lower())
        if loss.usd_value is None:
            priced = False
        else:
            usd += loss.usd_value
    lost_text = _per_asset(lost, units)
    if lost and priced:
        lost_text += f" (${usd:,.2f})"
    kept: dict[tuple[str, str], int] = defaultdict(int)
    for move in fund_movements(session, incident_id):
        if move.recovery_status in ("recovered", "frozen") and move.amount.isdigit():
            kept[move.chain, move.asset.lower()] += int(move.amount)
    at_risk_usd = incident.funds_at_risk_usd
    at_risk = _at_risk(incident.funds_at_risk)
    risk_text = _per_asset(at_risk, units) if at_risk else NOT_MEASURED
    if at_risk_usd is not None:
        usd_text = f"${at_risk_usd:,.2f}"
        risk_text = usd_text if not at_risk else f"{risk_text} ({usd_text})"
    saved = NOT_MEASURED
    if at_risk:  # what was at risk and is not lost; a token nobody lost is saved whole
        saved = _per_asset({k: max(v - lost.get(k, 0), 0) for k, v in at_risk.items()}, units)
    spans = durations(incident)
    return Headline(
        funds_at_risk=risk_text,
        lost=lost_text,
        funds_saved=saved,
        recovered_or_frozen=_per_asset(kept, units),
        users_affected=str(len(users)) if lost else NOT_MEASURED,
        time_to_detect=span_text(spans["time_to_detect"]),
        time_to_contain=span_text(spans["time_to_contain"]),
        time_to_recover=span_text(spans["time_to_resolve"]),
    )
