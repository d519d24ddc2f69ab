"""An incident's headline figures for people: funds at risk, lost and recovered, users
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

__all__ = ["NOT_MEASURED", "Headline", "headline_figures"]

NOT_MEASURED = "not measured"


@dataclass(frozen=True, slots=True)
class Headline:
    """Each figure as text, ready to show."""

    funds_at_risk: str
    lost: str
    recovered_or_frozen: str
    users_affected: str
    time_to_detect: str
    time_to_contain: str
    time_to_recover: str

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs in reading order."""
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]


def _span(delta: timedelta | None) -> str:
    if delta is None:
        return NOT_MEASURED
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


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
    at_risk = incident.funds_at_risk_usd
    spans = durations(incident)
    return Headline(
        funds_at_risk=NOT_MEASURED if at_risk is None else f"${at_risk:,.2f}",
        lost=lost_text,
        recovered_or_frozen=_per_asset(kept, units),
        users_affected=str(len(users)) if lost else NOT_MEASURED,
        time_to_detect=_span(spans["time_to_detect"]),
        time_to_contain=_span(spans["time_to_contain"]),
        time_to_recover=_span(spans["time_to_resolve"]),
    )
