"""What listing commands share: ``--format table|json`` and id columns that are never cut.

A table is for people; a script reads ``--format json``. Either way an id is whole: an id
column never wraps or ends in an ellipsis, however narrow the terminal or the pipe, because
the next command a person types is usually that id.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

__all__ = ["FormatOption", "ListFormat", "id_column", "print_json", "table_with"]


class ListFormat(StrEnum):
    """How a listing command prints."""

    table = "table"
    json = "json"


FormatOption = Annotated[
    ListFormat, typer.Option("--format", "-f", help="table for people, json for tools.")
]


def id_column(table: Table, header: str = "id") -> None:
    """Add a column whose values are printed whole: no wrapping, no ellipsis."""
    table.add_column(header, no_wrap=True, overflow="fold")


def table_with(columns: Sequence[str], *, ids: Sequence[str] = ("id",), **options: Any) -> Table:
    """A table with ``columns``; those named in ``ids`` are :func:`id_column` s."""
    table = Table(**options)
    for column in columns:
        if column in ids:
            id_column(table, column)
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
