"""``breakglass init``: write a commented starter plan."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import out
from breakglass.plan.starter import write_starter_plan

__all__ = ["init_command"]


def init_command(
    directory: Annotated[Path, typer.Argument(help="Where to write breakglass.yaml.")] = Path(),
    protocol: Annotated[str, typer.Option(help="The protocol's name.")] = "My Protocol",
    force: Annotated[bool, typer.Option(help="Overwrite an existing plan.")] = False,
) -> None:
    """Write a commented starter plan to DIRECTORY/breakglass.yaml."""
    target = write_starter_plan(
        directory, protocol=protocol, today=datetime.now(UTC).date(), force=force
    )
    out.print(f"wrote {escape(str(target))}")
    out.print(f"next: fill in the TODOs, then run  breakglass plan check {escape(str(target))}")
