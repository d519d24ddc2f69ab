"""``breakglass postmortem INCIDENT``: write the incident's post-mortem (md, html or pdf)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from breakglass.cli.console import err, out
from breakglass.cli.options import MaybePlanOption, default_plan
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.analysis import TxAnalysis
    from breakglass.analysis.assets import AssetInfo
    from breakglass.plan.models import Plan

__all__ = ["OutputFormat", "PostmortemStatus", "app", "postmortem_command"]

app = typer.Typer(help="The post-mortem of an incident.", add_completion=False)


class OutputFormat(StrEnum):
    """Formats of the post-mortem."""

    md = "md"
    html = "html"
    pdf = "pdf"


class PostmortemStatus(StrEnum):
    """Where a post-mortem stands."""

    draft = "draft"
    in_review = "in-review"
    published = "published"


def _plan(plan_file: Path | None) -> Plan | None:
    found = default_plan(plan_file)
    return load_plan(found).plan if found is not None else None


def _units(
    plan: Plan | None, session: Session, incident_id: int
) -> dict[tuple[str, str], AssetInfo]:
    """The tokens' symbols and decimals, read through the plan's endpoints, so amounts read
    in their units (110,000 dUSD); a chain that cannot be read leaves base units, said on
    stderr."""
    from breakglass.cli.incident_show import incident_units  # noqa: PLC0415
    from breakglass.incidents.service import get_incident  # noqa: PLC0415

    get_incident(session, incident_id)  # a missing incident says so before any chain read
    return incident_units(plan, session, incident_id)


def _analyses(files: list[Path]) -> list[TxAnalysis]:
    from breakglass.analysis.render import from_json  # noqa: PLC0415 - light CLI start-up
    from breakglass.errors import BreakglassError  # noqa: PLC0415

    result = []
    for path in files:
        try:
            result.append(from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise BreakglassError(f"{path}: not a tx analysis JSON file: {exc}") from None
    return result


@app.command()
def postmortem_command(
    incident_id: Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident id.")],
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="md, html (with charts) or pdf.")
    ] = OutputFormat.md,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the report and its notes file.")
    ] = Path(),
    plan_file: MaybePlanOption = None,
    status: Annotated[
        PostmortemStatus | None,
        typer.Option("--status", help="Move the post-mortem to draft, in-review or published."),
    ] = None,
    analysis_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--analysis", help="A tx analysis JSON (`analyze tx --format json`) to draw in HTML."
        ),
    ] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who generates it.")] = "breakglass",
) -> None:
    """Write postmortem-INCIDENT.FORMAT into DIR from the incident store. The first run also
    writes postmortem-INCIDENT.yaml, the notes the team fills in (root cause, 5 whys, what
    went well or wrong, luck, plan changes, action items); it is never overwritten, and its
    action items become tasks. Exit 0 when written, 2 on bad input."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from breakglass.report.postmortem import (  # noqa: PLC0415 - light CLI start-up
        set_postmortem_status,
        write_postmortem,
    )

    plan = _plan(plan_file)
    analyses = _analyses(analysis_files or [])
    now = datetime.now(UTC)
    with open_database() as sessions, sessions() as session, session.begin():
        if status is not None:
            row = set_postmortem_status(session, incident_id, str(status), now=now)
            err.print(f"post-mortem of incident #{incident_id} is {row.status}")
        report, notes = write_postmortem(
            session,
            incident_id,
            fmt.value,
            out_dir,
            plan=plan,
            now=now,
            actor=actor,
            analyses=analyses,
            units=_units(plan, session, incident_id),
        )
    out.print(str(report))
    err.print(f"notes: {notes} (edit it, then run again)")
