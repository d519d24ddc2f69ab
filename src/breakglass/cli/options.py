"""Options every command shares, so that each one finds the plan the same way.

A command that needs the plan takes ``--plan/-p PLAN``; without it, ``$BREAKGLASS_PLAN``;
without that, ``breakglass.yaml`` in the current directory. The commands whose subject is the
plan (``monitor PLAN``, ``doctor PLAN``, ``plan check PLAN``) take it as an argument with the
same fallbacks. A plan that is not there is an
error that says how to point at one, raised before the command does anything else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from breakglass.errors import PlanError

__all__ = [
    "DEFAULT_PLAN",
    "PLAN_ENV",
    "MaybePlanOption",
    "PlanArgument",
    "PlanOption",
    "default_plan",
    "missing_plan_error",
]

PLAN_ENV = "BREAKGLASS_PLAN"
DEFAULT_PLAN = Path("breakglass.yaml")
_WHERE = "(`breakglass demo` prints its plan's path; `breakglass init DIR` writes a starter plan)"


def missing_plan_error(
    path: Path, *, source: str | None = None, how: str = "pass --plan PLAN"
) -> PlanError:
    """The error for a plan file that is not there, saying how to point at one."""
    origin = f" (from {source})" if source else ""
    return PlanError(f"{path}: no such plan file{origin}; {how} or set {PLAN_ENV}=PLAN {_WHERE}")


def _existing_plan(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    if ctx.resilient_parsing or value.is_file():
        return value
    source = ctx.get_parameter_source(param.name or "")
    from_env = source is not None and source.name == "ENVIRONMENT"
    how = "pass --plan PLAN" if param.param_type_name == "option" else "name the plan file"
    raise missing_plan_error(value, source=PLAN_ENV if from_env else None, how=how)


def default_plan(value: Path | None) -> Path | None:
    """An optional plan: the one named, else ``breakglass.yaml`` when it exists.

    Raises:
        PlanError: a plan was named (by ``--plan`` or ``$BREAKGLASS_PLAN``) and is missing.
    """
    if value is None:
        return DEFAULT_PLAN if DEFAULT_PLAN.is_file() else None
    if not value.is_file():
        from_env = os.environ.get(PLAN_ENV) == str(value)
        raise missing_plan_error(value, source=PLAN_ENV if from_env else None)
    return value


PlanOption = Annotated[
    Path,
    typer.Option(
        "--plan",
        "-p",
        metavar="PLAN",
        envvar=PLAN_ENV,
        callback=_existing_plan,
        help=f"The plan YAML file [default: ${PLAN_ENV}, else breakglass.yaml].",
        show_default=False,
        show_envvar=False,
    ),
]
"""The plan a command needs; give it the default ``DEFAULT_PLAN``."""

MaybePlanOption = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        "-p",
        metavar="PLAN",
        envvar=PLAN_ENV,
        help=f"The plan YAML file [default: ${PLAN_ENV}, else breakglass.yaml if present].",
        show_default=False,
        show_envvar=False,
    ),
]
"""A plan a command can do without; resolve it with :func:`default_plan`."""

PlanArgument = Annotated[
    Path,
    typer.Argument(
        metavar="PLAN",
        envvar=PLAN_ENV,
        callback=_existing_plan,
        help=f"The plan YAML file [default: ${PLAN_ENV}, else breakglass.yaml].",
        show_default=False,
        show_envvar=False,
    ),
]
"""The plan as a command's argument, for commands whose subject it is; default
``DEFAULT_PLAN``."""
