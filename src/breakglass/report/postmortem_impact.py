"""The numbers of a post-mortem: UTC times, USD, the impact per chain and asset,
and the distribution measured against the plan's written compensation policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.analysis.assets import AssetInfo, cached_asset, format_amount, plan_names
from breakglass.incidents.evidence import fund_movements
from breakglass.plan.models import Plan
from breakglass.recovery.policy import RecoveryError
from breakglass.recovery.service import compute_compensation
from breakglass.store.models import Distribution, UserLoss

__all__ = [
    "fmt_usd",
    "fmt_utc",
    "impact_rows",
    "price_statement",
    "recovery_against_policy",
    "user_rows",
]


def fmt_utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "n/a"


def _dec(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def fmt_usd(value: float | Decimal | None) -> str:
    """``$1,234.50``; ``n/a`` when unknown."""
    return "n/a" if value is None else f"${value:,.2f}"


def _human(
    chain: str, asset: str, units: Mapping[tuple[str, str], AssetInfo] | None
) -> AssetInfo | None:
    known = units.get((chain, asset)) if units is not None else None
    return known or cached_asset(chain=chain, address=asset)


def _amounts(
    values: Mapping[str, Decimal], keys: tuple[str, ...], unit: AssetInfo | None
) -> dict[str, str]:
    if unit is None or unit.decimals is None:
        return {k: _num(values[k]) for k in keys}
    # Stored amounts are base-unit integers; a fraction would mean a hand-edited row, shown
    # as it is rather than rounded into a different figure.
    return {
        k: format_amount(int(v), decimals=unit.decimals, symbol=unit.symbol)
        if v == v.to_integral_value()
        else _num(v)
        for k, v in ((k, values[k]) for k in keys)
    }


def impact_rows(
    session: Session,
    incident_id: int,
    *,
    plan: Plan | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> list[dict[str, Any]]:
    """Per (chain, asset): lost by users, moved, recovered, frozen, unrecovered, distributed.

    Amounts are in the asset's unit (``18,333.33 dUSD``) where its decimals are known, from
    ``units`` (keyed by chain and lower-case address) or what this process read of the token
    before; else in base units. The asset is named by its symbol, else its plan name.
    """
    keys = ("lost", "moved", "recovered", "frozen", "partial", "unrecovered", "distributed")
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {k: Decimal(0) for k in keys} | {"users": 0, "lost_usd": None}
    )
    query = select(UserLoss).where(UserLoss.incident_id == incident_id)
    for loss in session.scalars(query):
        row = rows[(loss.chain, loss.asset.lower())]
        row["lost"] += _dec(loss.amount)
        row["users"] += 1
        if loss.usd_value is not None:
            row["lost_usd"] = (row["lost_usd"] or 0.0) + loss.usd_value
    for move in fund_movements(session, incident_id):
        row = rows[(move.chain, move.asset.lower())]
        amount = _dec(move.amount)
        row["moved"] += amount
        status = move.recovery_status
        bucket = status if status in ("recovered", "frozen", "partial") else "unrecovered"
        row[bucket] += amount
    for dist in session.scalars(
        select(Distribution).where(Distribution.incident_id == incident_id)
    ):
        rows[(dist.chain, dist.token.lower())]["distributed"] += _dec(dist.total)
    names = plan_names(plan) if plan is not None else {}
    result = []
    for (chain, asset), v in sorted(rows.items()):
        unit = _human(chain, asset, units)
        label = unit.symbol if unit is not None and unit.symbol else names.get(asset, asset)
        result.append(
            {"chain": chain, "asset": label, **_amounts(v, keys, unit)}
            | {"users": v["users"], "lost_usd": fmt_usd(v["lost_usd"])}
        )
    return result


def price_statement(session: Session, incident_id: int) -> str:
    """Where the USD figures come from: the price source and block the analysis used for
    each priced loss, or why there is no USD figure."""
    sources: set[str] = set()
    unpriced = False
    for loss in session.scalars(select(UserLoss).where(UserLoss.incident_id == incident_id)):
        source = loss.detail.get("price_source") if isinstance(loss.detail, dict) else None
        if loss.usd_value is None:
            unpriced = True
        elif isinstance(source, str) and source:
            sources.add(source)
    parts = []
    if sources:
        parts.append("USD at " + "; ".join(sorted(sources)) + ".")
    if unpriced:
        parts.append(
            "Some losses have no USD figure: the plan's analysis.prices prices none of their "
            "tokens at the incident's block."
            if sources
            else "No USD figure: the plan's analysis.prices prices none of the lost tokens."
        )
    return " ".join(parts)


def user_rows(
    session: Session,
    incident_id: int,
    *,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """Each user's loss in the token's unit, largest first."""
    losses = list(session.scalars(select(UserLoss).where(UserLoss.incident_id == incident_id)))
    rows = []
    for loss in sorted(losses, key=lambda x: (-_dec(x.amount), x.address)):
        unit = _human(loss.chain, loss.asset.lower(), units)
        amount = _amounts({"lost": _dec(loss.amount)}, ("lost",), unit)["lost"]
        if unit is None or unit.decimals is None:
            amount = f"{amount} base units of {loss.asset}"
        rows.append(
            {
                "user": (names or {}).get(loss.address.lower(), loss.address),
                "chain": loss.chain,
                "lost": amount,
                "usd": fmt_usd(loss.usd_value),
            }
        )
    return rows


def _words(value: object) -> str:
    """A policy value for people: yes/no, not Python's True/False."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_words(v) for v in value) or "none"
    return str(value)


def recovery_against_policy(
    session: Session,
    plan: Plan | None,
    incident_id: int,
    *,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> dict[str, Any]:
    """The plan's compensation policy, and per token what it entitles against what was
    distributed."""
    policy = plan.compensation_policy if plan is not None else None
    result: dict[str, Any] = {"policy": [], "tokens": [], "note": None}
    if policy is None:
        result["note"] = "The plan has no compensation_policy to measure the distribution against."
        return result
    for name, value in policy.model_dump(exclude_none=True, mode="json").items():
        if isinstance(value, dict):
            text = ", ".join(f"{k.replace('_', ' ')}: {_words(v)}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "none"
        else:
            text = str(value)
        result["policy"].append({"rule": name.replace("_", " "), "value": text})
    distributed: dict[str, int] = defaultdict(int)
    for dist in session.scalars(
        select(Distribution).where(Distribution.incident_id == incident_id)
    ):
        distributed[dist.token.lower()] += int(_dec(dist.total))
    assert plan is not None
    try:
        compensation = compute_compensation(session, plan, incident_id)
    except RecoveryError as exc:
        result["note"] = f"The policy could not be applied: {exc}"
        return result
    losses: dict[str, int] = defaultdict(int)
    for entitlement in compensation.entitlements:
        losses[entitlement.asset.lower()] += entitlement.loss
    chains = {d.token.lower(): d.chain for d in session.scalars(
        select(Distribution).where(Distribution.incident_id == incident_id))}  # fmt: skip
    chains |= {
        asset.lower(): chain
        for chain, asset in session.execute(
            select(UserLoss.chain, UserLoss.asset).where(UserLoss.incident_id == incident_id)
        )
    }
    for token in sorted(set(losses) | set(distributed)):
        entitled, paid = compensation.total(token), distributed.get(token, 0)
        verdict = "matches the policy" if paid == entitled else "differs from the policy"
        if paid == 0:
            verdict = "not distributed yet"
        chain = chains.get(token) or next(iter(plan.chains), "")
        unit = _human(chain, token, units)
        figures = {"lost": Decimal(losses.get(token, 0)), "entitled": Decimal(entitled),
                   "distributed": Decimal(paid)}  # fmt: skip
        shown = _amounts(figures, ("lost", "entitled", "distributed"), unit)
        label = unit.symbol if unit is not None and unit.symbol else token
        result["tokens"].append({"token": label, **shown, "verdict": verdict})
    return result
