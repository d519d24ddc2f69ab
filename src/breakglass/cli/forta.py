"""``breakglass forta ingest|export``: Forta alerts in as alerts, breakglass alerts out as
Forta findings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.errors import BreakglassError
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

__all__ = ["app"]

app = typer.Typer(help="Forta alerts in, Forta findings out.", no_args_is_help=True)


@app.command("ingest")
def ingest_command(
    alerts: Annotated[
        Path, typer.Argument(metavar="ALERTS_JSON", help="Forta alerts, as its API returns them.")
    ],
    plan: PlanOption = DEFAULT_PLAN,
) -> None:
    """Store Forta alerts as breakglass alerts (mapped severity and type, deduplicated on
    the alert hash). Exit 0, or 2 when the file is not Forta alerts."""
    from breakglass.detect.forta import record_forta_alerts  # noqa: PLC0415

    try:
        document = orjson.loads(alerts.read_bytes())
    except OSError as exc:
        raise BreakglassError(f"cannot read {alerts}: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise BreakglassError(f"{alerts} is not JSON") from None
    loaded = load_plan(plan)
    with transaction() as session:
        batch, new = record_forta_alerts(session, loaded.plan, document)
    out.print(
        f"{len(batch.findings)} Forta alerts read, {new} new alerts, {batch.duplicates} duplicates"
    )
    for reason in batch.skipped:
        err.print(f"[yellow]skipped[/yellow] {reason}", markup=True)


@app.command("export")
def export_command(plan: PlanOption = DEFAULT_PLAN) -> None:
    """Every stored alert as a Forta-shaped finding (JSON list), for other tools."""
    from breakglass.detect.forta import iter_stored, to_forta_finding  # noqa: PLC0415

    loaded = load_plan(plan)
    with transaction() as session:
        findings = [
            to_forta_finding(alert, protocol=loaded.plan.protocol) for alert in iter_stored(session)
        ]
    out.print(orjson.dumps(findings, option=orjson.OPT_INDENT_2).decode(), markup=False)
