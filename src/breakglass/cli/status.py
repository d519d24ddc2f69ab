"""``breakglass status render``: write the public status page as static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

__all__ = ["PlanOption", "app", "render_command"]

app = typer.Typer(help="The public status page.", no_args_is_help=True)


@app.command("render")
def render_command(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the page into.")],
    plan_file: PlanOption = DEFAULT_PLAN,
) -> None:
    """Write index.html, status.json and feed.atom into DIR, ready to publish anywhere.
    Only public updates appear; each file is replaced atomically."""
    from breakglass.report.status import public_content, render_status_page  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions, sessions() as session:
        updates, incidents = public_content(session)
        paths = render_status_page(
            loaded.plan.protocol, updates, incidents, out_dir, plan=loaded.plan
        )
    for path in paths:
        out.print(str(path))
    said = "public update" if len(updates) == 1 else "public updates"
    of = "incident" if len(incidents) == 1 else "incidents"
    err.print(f"{len(updates)} {said} of {len(incidents)} {of}")
