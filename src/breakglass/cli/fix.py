"""``breakglass fix verify``: prove a candidate fix against the incident's replayed exploit.

Exit status: 0 when the fix passed, 1 when it failed or some honest transaction behaves
differently with it (a person must judge), 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import transaction

__all__ = ["app", "verify_command"]

app = typer.Typer(
    help="Eradication: verify a fix against the replayed exploit.", no_args_is_help=True
)


_COLOURS = {"passed": "green", "needs-review": "yellow", "failed": "red"}


@app.command("verify")
def verify_command(
    incident: Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")],
    fix: Annotated[Path, typer.Option("--fix", help="The candidate fix (FIX.yaml).")],
    plan: PlanOption = DEFAULT_PLAN,
    chain: Annotated[str | None, typer.Option("--chain", help="Chain to fork.")] = None,
    txs: Annotated[
        list[str] | None,
        typer.Option("--tx", help="Exploit transaction (repeat); default: the evidence's."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the Markdown and JSON report.")
    ] = Path(),
) -> None:
    """Fork before the exploit, apply the fix, replay the exploit and the honest traffic."""
    from breakglass.outputs import output_dir, write_text  # noqa: PLC0415
    from breakglass.recovery.fix_report import fix_markdown  # noqa: PLC0415
    from breakglass.recovery.fix_service import run_fix_verification  # noqa: PLC0415
    from breakglass.recovery.fixspec import load_fix  # noqa: PLC0415

    loaded = load_plan(plan)
    spec, digest = load_fix(fix)
    output_dir(out_dir)
    err.print(f"forking and replaying incident #{incident}'s exploit with {escape(spec.name)}…")
    with transaction() as session:
        report = run_fix_verification(
            session,
            loaded=loaded,
            incident_id=incident,
            spec=spec,
            digest=digest,
            spec_path=fix,
            chain=chain,
            txs=tuple(txs or ()),
        )
    data = report.to_json()
    markdown = fix_markdown(data)
    write_text(out_dir / f"fix-verify-{incident}.md", markdown)
    write_text(out_dir / f"fix-verify-{incident}.json", json.dumps(data, indent=2) + "\n")
    colour = _COLOURS[report.verdict]
    out.print(f"[{colour}]{report.verdict}[/{colour}] fix {escape(spec.name)!r}")
    for reason in report.reasons:
        out.print(f"  - {escape(reason)}")
    err.print(f"wrote {out_dir / f'fix-verify-{incident}.md'} and .json; stored on the timeline")
    if not report.passed:
        raise typer.Exit(1)
