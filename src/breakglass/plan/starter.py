"""The commented starter plan written by ``breakglass init``."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path
from string import Template

from breakglass.errors import PlanError
from breakglass.outputs import write_text

__all__ = ["render_starter_plan", "write_starter_plan"]

PLAN_FILE_NAME = "breakglass.yaml"


def render_starter_plan(*, protocol: str, today: date) -> str:
    """The starter plan's text, with contacts marked as reviewed ``today``."""
    template = Template(files("breakglass.plan").joinpath("starter.yaml").read_text("utf-8"))
    safe_name = protocol.replace("\n", " ").replace('"', "'").strip() or "My Protocol"
    return template.substitute(protocol=safe_name, today=today.isoformat())


def write_starter_plan(directory: Path, *, protocol: str, today: date, force: bool) -> Path:
    """Write ``breakglass.yaml`` into ``directory``.

    Raises:
        PlanError: the file exists and ``force`` is false.
        OutputError: it cannot be written.
    """
    target = directory / PLAN_FILE_NAME
    if target.exists() and not force:
        raise PlanError(f"{target} already exists; pass --force to overwrite it")
    return write_text(target, render_starter_plan(protocol=protocol, today=today))
