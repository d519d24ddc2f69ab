"""``breakglass serve``: the dashboard, the REST API and the public status page over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from breakglass.cli.console import err
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

__all__ = ["serve_command"]


def serve_command(
    plan_file: PlanOption = DEFAULT_PLAN,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
) -> None:
    """Serve the dashboard (sign in at / with a token from `breakglass token create`), the
    API under /api (the same tokens as bearer tokens) and the public status page at
    /status, /status.json and /feed.atom."""
    from breakglass.runtime.serve import serve  # noqa: PLC0415 - FastAPI is slow to import

    loaded = load_plan(plan_file)
    with open_database(migrate=True) as sessions:  # a long-running service: migrate
        base = f"http://{host}:{port}"
        err.print(f"serving {loaded.plan.protocol} on {base} (dashboard /, API /api, /status)")
        serve(loaded, sessions, host=host, port=port)
