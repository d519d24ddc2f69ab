"""Entitlements as a Rich table (in the tokens' units where known), CSV and JSON (amounts as
exact base-unit integers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from rich.table import Table

from breakglass.analysis.assets import AssetInfo, format_amount
from breakglass.recovery.policy import Compensation, Entitlement

__all__ = [
    "CSV_COLUMNS",
    "entitlement_record",
    "entitlements_csv",
    "entitlements_json",
    "entitlements_table",
]

CSV_COLUMNS = ("address", "asset", "loss", "amount", "usd", "reasons")


def _usd(entitlement: Entitlement) -> str:
    return "" if entitlement.usd is None else str(entitlement.usd)


def entitlements_table(
    compensation: Compensation, units: Mapping[str, AssetInfo] | None = None
) -> Table:
    """A Rich table, one row per address and asset, with the total per asset in the caption.

    Args:
        units: symbol and decimals by lower-case token address. A known token's amounts read
            in its unit (``18,333.33 dUSD``, rounded for people; CSV and JSON keep exact
            base units); an unknown one's stay in base units under its address.
    """
    known = units or {}

    def unit(asset: str) -> AssetInfo | None:
        info = known.get(asset.lower())
        return info if info is not None and info.decimals is not None else None

    def amount(value: int, asset: str) -> str:
        info = unit(asset)
        if info is None:
            return str(value)
        return format_amount(value, decimals=info.decimals, symbol=info.symbol)

    def label(asset: str) -> str:
        info = known.get(asset.lower())
        return info.symbol if info is not None and info.symbol else asset

    table = Table(title=f"Entitlements ({compensation.cause})")
    for column in ("address", "asset", "loss", "entitled", "USD", "reasons"):
        justify = "right" if column in {"loss", "entitled", "USD"} else "left"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for e in compensation.entitlements:
        table.add_row(
            e.address,
            label(e.asset),
            amount(e.loss, e.asset),
            amount(e.amount, e.asset),
            _usd(e),
            "; ".join(e.reasons),
        )
    assets = sorted({e.asset for e in compensation.entitlements}, key=str.lower)
    totals = [
        f"{amount(compensation.total(a), a)}" if unit(a) else f"{a}: {compensation.total(a)}"
        for a in assets
    ]
    table.caption = "total " + ", ".join(totals) if totals else "no losses"
    if any(unit(a) for a in assets):
        table.caption += " (rounded; --format csv or json for exact base units)"
    return table


def entitlements_csv(entitlements: Sequence[Entitlement]) -> str:
    """CSV with a header; reasons joined by ``"; "``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entitlements:
        writer.writerow([e.address, e.asset, e.loss, e.amount, _usd(e), "; ".join(e.reasons)])
    return buffer.getvalue()


def entitlement_record(entitlement: Entitlement) -> dict[str, Any]:
    """One entitlement as JSON-safe values (amounts as decimal strings)."""
    return {
        "address": entitlement.address,
        "asset": entitlement.asset,
        "loss": str(entitlement.loss),
        "amount": str(entitlement.amount),
        "usd": _usd(entitlement) or None,
        "reasons": list(entitlement.reasons),
    }


def entitlements_json(compensation: Compensation) -> str:
    """``{"cause", "entitlements": [...], "totals", "unresolved_exclusions", "notes"}``."""
    assets = sorted({e.asset for e in compensation.entitlements}, key=str.lower)
    document = {
        "cause": compensation.cause,
        "entitlements": [entitlement_record(e) for e in compensation.entitlements],
        "totals": {asset: str(compensation.total(asset)) for asset in assets},
        "unresolved_exclusions": list(compensation.unresolved_exclusions),
        "notes": list(compensation.notes),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
