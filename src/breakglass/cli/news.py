"""``breakglass news …``: fetch vulnerability news for the plan's components and list it."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from breakglass.cli.console import err, out
from breakglass.cli.listing import FormatOption, ListFormat, print_json, table_with
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.plan import load_plan
from breakglass.runtime.database import open_database
from breakglass.settings import Settings

if TYPE_CHECKING:
    from breakglass.plan.models import Plan
    from breakglass.report.news import NewsItem, NewsPost

__all__ = ["app", "fetch_command", "list_command"]

app = typer.Typer(help="Vulnerability news for the plan's components.", no_args_is_help=True)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="News store file; default <home>/news.json."),
]


def _store_path(path: Path | None) -> Path:
    return path if path is not None else Settings().home / "news.json"


def _table(title: str, items: Iterable[NewsItem]) -> Table:
    table = table_with(
        ("component", "title", "affects?", "owner", "first seen"),
        ids=("component",),
        title=title,
        title_justify="left",
    )
    for item in items:
        affects = "[bold red]yes[/bold red]" if item.affects else "no"
        table.add_row(
            escape(item.component),
            escape(item.title) + (f"\n[dim]{escape(item.url)}[/dim]" if item.url else ""),
            affects,
            escape(item.owner or "-"),
            item.first_seen[:19],
        )
    return table


def _print_post(message: NewsPost) -> None:
    owner = message.owner or "-"
    out.print(f"[bold]→ {escape(message.channel)}[/bold] (for {escape(owner)}): ", end="")
    out.print(escape(message.title))
    out.print(escape(message.body))


@contextmanager
def _poster(plan: Plan) -> Iterator[Callable[[NewsPost], None]]:
    """Queues posts through ``breakglass.notify`` and delivers them when the block ends;
    without that package, prints them."""
    try:
        notify: Any = importlib.import_module("breakglass.notify")
    except ImportError:
        yield _print_post
        return
    with open_database() as sessions:
        notifier = notify.Notifier(plan, sessions)
        queued: list[NewsPost] = []

        def post(message: NewsPost) -> None:
            context = {
                "title": message.title,
                "message": message.body,
                "url": message.url,
                "owner": message.owner,
            }
            notifier.notify("news", context, channels=[message.channel])
            queued.append(message)

        yield post
        if queued:
            sent = asyncio.run(notifier.deliver_due())
            err.print(f"[dim]{sent} message(s) sent; see `breakglass notify log`[/dim]")


@app.command("fetch")
def fetch_command(
    plan_file: PlanOption = DEFAULT_PLAN,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fetch and show; store and post nothing.")
    ] = False,
    store_file: StoreOption = None,
) -> None:
    """Fetch every news source in the plan, store new entries and post the ones that affect
    a declared component version to the news channel. Exit 1 when a source failed."""
    from breakglass.report.news import NewsStore, fetch_news  # noqa: PLC0415

    loaded = load_plan(plan_file)
    store = NewsStore(_store_path(store_file))
    with ExitStack() as stack:
        post = None if dry_run else stack.enter_context(_poster(loaded.plan))
        report = fetch_news(
            loaded.plan,
            store,
            post=post,
            dry_run=dry_run,
            base_dir=plan_file.resolve().parent,
        )
    out.print(_table("new news items" + (" (dry run)" if dry_run else ""), report.new))
    for error in report.errors:
        err.print(
            f"[red]error[/red] {escape(error.component)} / {escape(error.source)} "
            f"({escape(error.url)}): {escape(error.message)}"
        )
    flagged = sum(item.affects for item in report.new)
    err.print(
        f"{len(report.new)} new of {report.seen} entries, {flagged} affect declared versions, "
        f"{len(report.posts)} post(s){' not sent (dry run)' if dry_run else ''}"
    )
    if report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_command(
    store_file: StoreOption = None,
    component: Annotated[
        str | None, typer.Option("--component", "-c", help="Only this component.")
    ] = None,
    affects: Annotated[
        bool, typer.Option("--affects", help="Only items that affect a declared version.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Newest items shown.")] = 50,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """List stored news items, newest first."""
    from breakglass.report.news import NewsStore  # noqa: PLC0415

    items = [
        item
        for item in NewsStore(_store_path(store_file)).items()
        if (component is None or item.component == component) and (item.affects or not affects)
    ]
    if fmt is ListFormat.json:
        print_json([asdict(item) for item in items[:limit]])
        return
    out.print(_table("news", items[:limit]))
