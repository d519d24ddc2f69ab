"""``breakglass token create|revoke PERSON``: API tokens of the plan's people."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from breakglass.cli.console import err
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database

__all__ = ["app", "create_command", "revoke_command"]

app = typer.Typer(help="API tokens: create and revoke.", no_args_is_help=True)

Person = Annotated[str, typer.Argument(metavar="PERSON", help="A person in the plan.")]


@app.command("create")
def create_command(person: Person, plan_file: PlanOption = DEFAULT_PLAN) -> None:
    """Create an API token for PERSON and print it, once: only its SHA-256 is kept.
    Its access (viewer, responder, admin) comes from the plan."""
    from breakglass.api.tokens import access_of, create_token  # noqa: PLC0415

    loaded = load_plan(plan_file)
    with open_database() as sessions, sessions() as session, session.begin():
        token = create_token(session, loaded.plan, person)
    sys.stdout.write(token + "\n")
    access = access_of(loaded.plan, person)
    err.print(f"token for {escape(person)} ({access}); it is not shown again")


@app.command("revoke")
def revoke_command(person: Person) -> None:
    """Revoke every API token of PERSON."""
    from breakglass.api.tokens import revoke_tokens  # noqa: PLC0415

    with open_database() as sessions, sessions() as session, session.begin():
        count = revoke_tokens(session, person)
    err.print(f"revoked {count} token{'s' if count != 1 else ''} of {escape(person)}")
