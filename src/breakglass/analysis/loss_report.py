"""Losses as a table for people, CSV for spreadsheets and JSON for tools; amounts exact."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

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


def losses_table(losses: Iterable[Loss]) -> Any:
    """A Rich table of the losses with a total per asset (returns ``rich.table.Table``)."""
    from rich.table import Table  # noqa: PLC0415

    rows = list(losses)
    priced = any(x.figure is not None for x in rows)
    table = Table(title="Losses per user and asset (base units)")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column not in ("address", "asset") else "left")
    if priced:
        table.add_column("usd (price source)")
    totals: dict[str, int] = defaultdict(int)
    usd_totals: dict[str, Decimal | None] = {}
    for loss in rows:
        cells = [str(getattr(loss, c)) for c in _COLUMNS]
        if priced:
            cells.append(loss.figure.text() if loss.figure is not None else "")
        table.add_row(*cells)
        totals[loss.asset] += loss.amount
        usd = loss.figure.usd if loss.figure is not None else None
        so_far = usd_totals.get(loss.asset, Decimal(0))
        usd_totals[loss.asset] = None if usd is None or so_far is None else so_far + usd
    for asset, total in sorted(totals.items()):
        cells = ["total", asset, str(total), "", "", "", "", ""]
        if priced:
            usd_total = usd_totals.get(asset)
            cells.append("" if usd_total is None else f"${usd_total:,.2f}")
        table.add_row(*cells, style="bold")
    return table
