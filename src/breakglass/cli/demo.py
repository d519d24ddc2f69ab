"""``breakglass demo``: watch breakglass stop an exploit on a local chain, end to end.

Registered in :mod:`breakglass.cli.app`'s command table (imported only when it runs);
``python -m breakglass.cli.demo`` runs the same command on its own.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err, out
from breakglass.logs import configure_logging
from breakglass.settings import Settings

__all__ = ["app", "demo_command"]


def demo_command(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Where the plan, database, status page and reports go."),
    ] = Path("demo"),
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Keep the API and status page running on the demo's data."),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Address --serve listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for --serve.")] = 8080,
) -> None:
    """Deploy a lending protocol on a local anvil chain, attack it with a flash-swap price
    manipulation, and watch breakglass detect it, pause the pool, open the incident, measure
    the losses, compute the compensation Merkle root and write the status page and the
    post-mortem. No network, nothing to install; about ten seconds, the same blocks and
    amounts on every run. Exit 0 when the pause landed, 1 when it did not.
    """
    from breakglass.demo import format_summary, run_demo  # noqa: PLC0415 - heavy imports

    if "BREAKGLASS_LOG_LEVEL" not in os.environ:
        configure_logging("CRITICAL", Settings().log_format)
    result = run_demo(directory, say=lambda line: out.print(escape(line)))
    for line in format_summary(result):
        out.print(escape(line))
    _point_at(result.paths["plan"], result.paths["database"])
    if result.pause_block is None:
        err.print("[red]the pause did not land[/red]")
        raise typer.Exit(1)
    if serve:
        _serve(result.paths["plan"], result.paths["database"], host, port)


def _point_at(plan_file: Path, database: Path) -> None:
    """Later commands find the demo's plan and database only when told where they are."""
    plan = shlex.quote(str(plan_file.resolve()))
    url = shlex.quote(f"sqlite:///{database.resolve().as_posix()}")
    out.print("\nto explore it with the other commands (`incident list`, `notify log`, ...):")
    out.print(escape(f"  export BREAKGLASS_PLAN={plan} BREAKGLASS_DATABASE_URL={url}"))


def _serve(plan_file: Path, database: Path, host: str, port: int) -> None:
    """Serve the API and the status page on the demo's database until Ctrl-C."""
    from breakglass.api.tokens import create_token  # noqa: PLC0415
    from breakglass.plan import load_plan  # noqa: PLC0415
    from breakglass.runtime.database import open_database  # noqa: PLC0415
    from breakglass.runtime.serve import serve  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database(f"sqlite:///{database.as_posix()}", migrate=True) as sessions:
        with sessions() as session, session.begin():
            token = create_token(session, loaded.plan, "alice")
        out.print(f"\ndashboard on http://{host}:{port}/ (API under /api, status page at /status)")
        out.print(f"admin token to sign in (alice, incident lead): {token}")
        out.print(
            f'try: curl -H "Authorization: Bearer {token}" http://{host}:{port}/api/incidents'
        )
        out.print("Ctrl-C to stop (the demo chain has already stopped; the data stays)")
        serve(loaded, sessions, host=host, port=port, log_level="warning")


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
"""A stand-alone app holding only ``demo`` (for tests and ``python -m`` before registration)."""
app.command("demo")(demo_command)


@app.callback()
def _group() -> None:
    """breakglass demo (stand-alone)."""


if __name__ == "__main__":
    typer.run(demo_command)
