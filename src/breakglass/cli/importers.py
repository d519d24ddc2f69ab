"""``breakglass import``: plans from the tools a team already runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape

from breakglass.cli.console import err, out

if TYPE_CHECKING:
    from breakglass.importers.report import ImportResult

__all__ = ["app"]

app = typer.Typer(help="Write a plan from another tool's configuration.", no_args_is_help=True)

OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="The plan file to write (files it needs go beside it).")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
IntoOption = Annotated[
    Path | None,
    typer.Option("--into", help="Add the import to this plan (its people, roles, scenarios)."),
]


@app.command("oz-monitor")
def oz_monitor_command(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="OpenZeppelin Monitor's config directory.")
    ],
    out_path: OutOption = Path("breakglass.yaml"),
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="The plan's protocol name.")
    ] = None,
    into: IntoOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Networks, monitors, triggers and filter scripts of DIR as a breakglass plan.

    Exit 0 with the plan written, 2 when the configuration has problems (all listed).
    """
    from breakglass.importers.oz_monitor import import_oz_monitor  # noqa: PLC0415
    from breakglass.importers.report import merge_into  # noqa: PLC0415

    result = import_oz_monitor(directory, protocol=protocol)
    if into is not None:
        result = merge_into(result, into)
    _finish(result, out_path, force=force, as_json=as_json)


@app.command("defender")
def defender_command(
    serverless: Annotated[
        Path, typer.Argument(metavar="SERVERLESS_YML", help="Defender-as-code serverless.yml.")
    ],
    out_path: OutOption = Path("breakglass.yaml"),
    grant_on: Annotated[
        list[str] | None,
        typer.Option("--grant-on", help="Imported contract whose PAUSER_ROLE the new signer gets."),
    ] = None,
    safe: Annotated[
        str | None, typer.Option("--safe", help="The Safe that holds the contracts' admin role.")
    ] = None,
    new_signer: Annotated[
        str | None, typer.Option("--new-signer", help="The new signer's address, for the grant.")
    ] = None,
    into: IntoOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Monitors, notification channels, relayers and policies of a Defender-as-code file as
    a breakglass plan, and the Safe batch that grants the pause role to the new signer.

    Exit 0 with the plan written, 2 when the file has problems (all listed).
    """
    from breakglass.importers.defender import import_defender  # noqa: PLC0415
    from breakglass.importers.report import merge_into  # noqa: PLC0415

    result = import_defender(serverless, grant_on=grant_on, safe=safe, new_signer=new_signer)
    if into is not None:
        result = merge_into(result, into)
    _finish(result, out_path, force=force, as_json=as_json)


def _finish(result: ImportResult, out_path: Path, *, force: bool, as_json: bool) -> None:
    from breakglass.importers.report import write_result  # noqa: PLC0415

    written = write_result(result, out_path, force=force)
    report = result.report
    if as_json:
        document = {"written": [str(p) for p in written], **report.as_dict()}
        out.print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode(), markup=False)
        return
    out.print(f"wrote {escape(str(out_path))} ({len(result.plan.get('rules', []))} rules)")
    for note in report.notes:
        err.print(f"[yellow]note[/yellow] {escape(note)}")
    if report.secrets:
        out.print("set these variables before `breakglass monitor`:")
        for secret in report.secrets:
            out.print(
                f"  {secret.variable}: {escape(secret.how)} ({escape(secret.where)})", markup=False
            )
