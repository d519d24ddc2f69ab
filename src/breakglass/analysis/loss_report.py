"""Losses as a table for people, CSV for spreadsheets and JSON for tools; amounts exact."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from breakglass.analysis.assets import AssetInfo, format_amount, name_address
from breakglass.analysis.losses import Loss

__all__ = ["losses_csv", "losses_json", "losses_table"]

_COLUMNS = ("address", "asset", "amount", "before", "after", "received", "paid_in", "taken")


def losses_csv(losses: Iterable[Loss]) -> str:
    """CSV with a header row; amounts are exact base-unit integers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for loss in losses:
        writer.writerow([getattr(loss, c) for c in _COLUMNS])
    return buffer.getvalue()


def losses_json(losses: Iterable[Loss]) -> str:
    """A JSON list of objects; amounts are decimal strings so no reader rounds them."""
    rows = [{"address": x.address, "asset": x.asset, **x.detail()} for x in losses]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode()


def losses_table(
    losses: Iterable[Loss],
    *,
    units: Mapping[str, AssetInfo] | None = None,
    names: Mapping[str, str] | None = None,
) -> Any:
    """A Rich table of the losses with a total per asset (returns ``rich.table.Table``).

    Args:
        losses: the rows.
        units: symbol and decimals by lower-case asset address; with them amounts read in
            the asset's unit (``18,333.33 dUSD``) next to the exact base-unit loss.
        names: plan names by lower-case address, for users and assets the plan knows.
    """
    from rich.table import Table  # noqa: PLC0415

    rows = list(losses)
    if units:
        return _human_table(rows, units, names or {})
    priced = any(x.figure is not None for x in rows)
    table = Table(title="Losses per user and asset (base units)")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column not in ("address", "asset") else "left")
    if priced:
        table.add_column("usd (price source)")
    totals: dict[str, int] = defaultdict(int)
    usd_totals = _usd_totals(rows)
    for loss in rows:
        cells = [str(getattr(loss, c)) for c in _COLUMNS]
        if priced:
            cells.append(loss.figure.text() if loss.figure is not None else "")
        table.add_row(*cells)
        totals[loss.asset] += loss.amount
    for asset, total in sorted(totals.items()):
        cells = ["total", asset, str(total), "", "", "", "", ""]
        if priced:
            usd_total = usd_totals.get(asset)
            cells.append("" if usd_total is None else f"${usd_total:,.2f}")
        table.add_row(*cells, style="bold")
    return table


def _human_table(rows: list[Loss], units: Mapping[str, AssetInfo], names: Mapping[str, str]) -> Any:
    from rich.table import Table  # noqa: PLC0415

    def unit(asset: str) -> AssetInfo:
        return units.get(asset.lower()) or AssetInfo(None, None)

    def shown(asset: str, value: int) -> str:
        info = unit(asset)
        return format_amount(value, decimals=info.decimals, symbol=info.symbol)

    def label(asset: str) -> str:
        return unit(asset).symbol or name_address(asset, names)

    priced = any(x.figure is not None for x in rows)
    # Few columns, so a terminal of 80 keeps each figure on one line; the terms of each loss
    # (before, after, received, paid in, taken) are in --format csv and json.
    table = Table(
        title="Losses per user and asset",
        caption="terms of each loss and full addresses: --format csv or json",
    )
    table.add_column("user", no_wrap=True)
    table.add_column("asset", no_wrap=True)
    table.add_column("lost", justify="right", no_wrap=True)
    table.add_column("base units", justify="right", overflow="fold")
    if priced:
        table.add_column("usd", justify="right", no_wrap=True)
    totals: dict[str, int] = defaultdict(int)
    for loss in rows:
        user = name_address(loss.address, names)
        cells = [user, label(loss.asset), shown(loss.asset, loss.amount), str(loss.amount)]
        if priced:
            usd = loss.figure.usd if loss.figure is not None else None
            cells.append("" if usd is None else f"${usd:,.2f}")
        table.add_row(*cells)
        totals[loss.asset] += loss.amount
    usd_totals = _usd_totals(rows)
    for asset, total in sorted(totals.items()):
        cells = ["total", label(asset), shown(asset, total), str(total)]
        if priced:
            usd_total = usd_totals.get(asset)
            cells.append("" if usd_total is None else f"${usd_total:,.2f}")
        table.add_row(*cells, style="bold")
    return table


def _usd_totals(rows: list[Loss]) -> dict[str, Decimal | None]:
    """USD per asset; ``None`` once any row of the asset is unpriced (a partial sum would
    understate the loss)."""
    usd_totals: dict[str, Decimal | None] = {}
    for loss in rows:
        usd = loss.figure.usd if loss.figure is not None else None
        so_far = usd_totals.get(loss.asset, Decimal(0))
        usd_totals[loss.asset] = None if usd is None or so_far is None else so_far + usd
    return usd_totals
