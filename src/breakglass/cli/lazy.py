"""Commands registered by name and imported only when they run.

``breakglass pause`` is typed while funds drain, and ``--help`` or ``version`` should answer at
once; importing every command module (and through them web3, safe-eth-py, SQLAlchemy, the
drills) would cost seconds on every call. So the top-level group knows each command only by a
:class:`LazyCommand` row: its name, where it lives and its one-line summary. ``--help`` lists
the summaries without importing anything; running a command imports its module alone.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

__all__ = ["LazyCommand", "LazyGroup", "QuickCommand", "first_sentence", "load_command"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass(frozen=True)
class LazyCommand:
    """A command the group imports when it runs.

    Attributes:
        name: what a person types, e.g. ``pause``.
        target: ``"module:attribute"``; the attribute is a command function or a ``typer.Typer``
            holding subcommands.
        summary: the one line ``--help`` shows; a test holds it equal to
            :func:`first_sentence` of the command's real help.
    """

    name: str
    target: str
    summary: str


def first_sentence(text: str | None) -> str:
    """The first sentence of a help text's first paragraph, on one line."""
    paragraph = (text or "").strip().split("\n\n", 1)[0]
    return _SENTENCE_END.split(" ".join(paragraph.split()), maxsplit=1)[0]


def load_command(entry: LazyCommand) -> Command:
    """Import ``entry``'s module and build its click command (a group for a ``typer.Typer``)."""
    module_name, _, attribute = entry.target.partition(":")
    obj: Any = getattr(importlib.import_module(module_name), attribute)
    command: Command
    if isinstance(obj, typer.Typer):
        # get_group, not get_command: a Typer with one subcommand must stay a group.
        command = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(entry.name)(obj)
        command = typer.main.get_command(single)
    command.name = entry.name
    return command


def _unset_help_is_false(option: Any) -> Any:
    # Typer coerces an unset flag (None) through a pydantic adapter, which imports pydantic
    # (~60 ms) just to parse `--help`; an unset help flag is plainly False.
    if option is not None and option.default is None:
        option.default = False
    return option


class QuickCommand(TyperCommand):
    """A Typer command whose parsing imports nothing beyond Typer (for ``version``)."""

    def get_help_option(self, ctx: Context) -> Any:
        return _unset_help_is_false(super().get_help_option(ctx))


class LazyGroup(TyperGroup):
    """A Typer group whose commands beyond the eager ones come from :attr:`lazy_commands`."""

    lazy_commands: tuple[LazyCommand, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_name = {entry.name: entry for entry in self.lazy_commands}
        self._listing = False

    def get_help_option(self, ctx: Context) -> Any:
        return _unset_help_is_false(super().get_help_option(ctx))

    def list_commands(self, ctx: Context) -> list[str]:
        return [*self._by_name, *(name for name in super().list_commands(ctx))]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if (command := super().get_command(ctx, cmd_name)) is not None:
            return command
        entry = self._by_name.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            # The help page needs a name and a line, not the command: import nothing.
            return TyperCommand(entry.name, short_help=entry.summary, help=entry.summary)
        command = load_command(entry)
        self.commands[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # Typer suggests from the commands loaded so far; a typo deserves them all.
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(match) for match in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
