"""What listing commands share: ``--format table|json`` and id columns that are never cut.

A table is for people; a script reads ``--format json``. Either way an id is whole, because
the next command a person types is usually that id: an id column never ends in an ellipsis.
It stays on one line while the id columns fit side by side in the width (the other columns
give way); when they cannot, its ids fold onto further lines rather than lose characters.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table

__all__ = ["FormatOption", "IdTable", "ListFormat", "print_json", "table_with"]


class ListFormat(StrEnum):
    """How a listing command prints."""

    table = "table"
    json = "json"


FormatOption = Annotated[
    ListFormat, typer.Option("--format", "-f", help="table for people, json for tools.")
]


_OTHER_MIN = 2
"""Cells a column other than an id keeps at least: a letter and an ellipsis."""


class IdTable(Table):
    """A table whose id columns are never cut; see the module doc."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.id_columns: list[Column] = []

    def add_id_column(self, header: str) -> None:
        """Add a column of ids."""
        self.add_column(header, overflow="fold")
        self.id_columns.append(self.columns[-1])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        def widest(column: Column) -> int:
            cells = [column.header, *column.cells]
            return max(Measurement.get(console, options, cell).maximum for cell in cells)

        others = len(self.columns) - len(self.id_columns)
        frame = 3 * len(self.columns) + 1  # padding and one border per column, and the last
        needed = sum(widest(c) for c in self.id_columns) + others * _OTHER_MIN + frame
        fits = needed <= options.max_width
        for column in self.id_columns:
            column.no_wrap = fits
        yield from super().__rich_console__(console, options)


def table_with(columns: Sequence[str], *, ids: Sequence[str] = ("id",), **options: Any) -> IdTable:
    """A table with ``columns``; those named in ``ids`` hold ids and are never cut."""
    table = IdTable(**options)
    for column in columns:
        if column in ids:
            table.add_id_column(column)
        else:
            table.add_column(column)
    return table


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(rows: Any) -> None:
    """Print ``rows`` as indented JSON on stdout: times in ISO 8601, durations in seconds."""
    sys.stdout.write(json.dumps(rows, indent=2, default=_plain, ensure_ascii=False) + "\n")
