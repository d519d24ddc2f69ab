"""``breakglass backfill``: fetch a block range's logs of the plan's contracts, resumably,
and run the plan's log rules over them."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from breakglass.chain.endpoints import plan_endpoints
from breakglass.chain.pool import EndpointPool
from breakglass.cli.console import err, out
from breakglass.cli.options import DEFAULT_PLAN, PlanOption
from breakglass.errors import PlanError
from breakglass.plan import load_plan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.detect.replay import LogReplay
    from breakglass.ingest.backfill import (
        BackfillCheckpoint,
        BackfillProgress,
        BackfillResult,
        PlanTarget,
    )
    from breakglass.plan.loader import LoadedPlan

__all__ = ["backfill_command", "chain_pool"]


def chain_pool(loaded: LoadedPlan, chain: str) -> EndpointPool:
    """The HTTP endpoints of the plan's chain ``chain``; the caller closes the pool.

    Endpoints whose URL refers to an unset environment variable are left out with a warning.

    Raises:
        PlanError: the plan has no such chain.
        ConfigError: every endpoint URL refers to an unset environment variable.
    """
    config = loaded.plan.chains.get(chain)
    if config is None:
        known = ", ".join(sorted(loaded.plan.chains)) or "none"
        raise PlanError(f"the plan has no chain {chain!r} (chains: {known})")
    return EndpointPool(plan_endpoints(config, prefer_ws=False, name=chain), chain=chain)


def backfill_command(
    chain: Annotated[str, typer.Option("--chain", help="A chain named in the plan.")],
    start: Annotated[int, typer.Option("--from", help="First block.", show_default=False)],
    plan_file: PlanOption = DEFAULT_PLAN,
    to: Annotated[str, typer.Option("--to", help="Last block, or 'latest'.")] = "latest",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="eth_getLogs calls in flight.")
    ] = 4,
    initial_range: Annotated[
        int, typer.Option("--range", min=1, help="Blocks per call to start with.")
    ] = 2000,
) -> None:
    """Fetch every log of the plan's contracts on CHAIN in blocks FROM..TO, in order.

    The plan's log rules of CHAIN run over those logs and what they find is stored as
    alerts; state, transaction and trace rules do not run in a backfill. Progress is saved
    after each chunk: running the same command again resumes where it stopped. Exit 0 when
    done, 2 on bad input.
    """
    # SQLAlchemy and Alembic take a second to import; other commands should not pay for it.
    from breakglass.ingest.backfill import (  # noqa: PLC0415
        BackfillCheckpoint,
        backfill_key,
        check_range,
        plan_target,
    )
    from breakglass.runtime.database import open_database  # noqa: PLC0415

    end = _parse_to(to)
    loaded = load_plan(plan_file)
    target = plan_target(loaded, chain)
    check_range(chain, start, end)

    with open_database(migrate=True) as sessions:  # a long run that writes: migrate
        checkpoint = BackfillCheckpoint(sessions, backfill_key(chain, start, end))
        result, decoded, replay = asyncio.run(
            _run(
                loaded, target, chain, start, end, checkpoint, sessions, concurrency, initial_range
            )
        )
    _summary(chain, target, result, decoded)
    _rules_summary(loaded, chain, replay)


def _parse_to(value: str) -> int | Literal["latest"]:
    if value == "latest":
        return "latest"
    try:
        return int(value, 0)
    except ValueError:
        message = f"{value!r} is neither a block number nor 'latest'"
        raise typer.BadParameter(message, param_hint="--to") from None


async def _run(
    loaded: LoadedPlan,
    target: PlanTarget,
    chain: str,
    start: int,
    end: int | Literal["latest"],
    checkpoint: BackfillCheckpoint,
    sessions: sessionmaker[Session],
    concurrency: int,
    initial_range: int,
) -> tuple[BackfillResult, int, LogReplay | None]:
    from breakglass.detect.replay import log_replay  # noqa: PLC0415 - see backfill_command
    from breakglass.ingest.backfill import backfill  # noqa: PLC0415
    from breakglass.ingest.checkpoint import fetch_chain_identity  # noqa: PLC0415

    pool = chain_pool(loaded, chain)
    decoded = 0
    began = time.monotonic()
    try:
        expected = loaded.plan.chains[chain].chain_id
        checkpoint.verify(await fetch_chain_identity(pool, chain=chain, expected_chain_id=expected))
        replay = log_replay(loaded_plan=loaded, chain=chain, pool=pool, sessions=sessions)
    except BaseException:
        await pool.aclose()
        raise

    async def on_logs(_from: int, _to: int, logs: list[dict[str, Any]]) -> None:
        nonlocal decoded
        decoded += target.count_decoded(logs)
        if replay is not None:
            await replay.on_logs(logs)

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("blocks"),
        TextColumn("{task.fields[logs]} logs, {task.fields[rate]:.0f} logs/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"backfill {chain}", total=None, logs=0, rate=0.0)

        def progress(p: BackfillProgress) -> None:
            rate = p.logs / max(time.monotonic() - began, 1e-9)
            bar.update(task, total=p.total_blocks, completed=p.blocks_done, logs=p.logs, rate=rate)

        try:
            result = await backfill(
                pool=pool,
                chain=chain,
                start=start,
                end=end,
                addresses=target.addresses,
                on_logs=on_logs,
                checkpoint=checkpoint,
                concurrency=concurrency,
                initial_range=initial_range,
                progress=progress,
            )
        finally:
            await pool.aclose()
    return result, decoded, replay


def _summary(chain: str, target: PlanTarget, result: BackfillResult, decoded: int) -> None:
    count = len(target.addresses)
    scope = f"{count} contract{'s' * (count != 1)}" if count else "every contract"
    if result.blocks == 0:
        out.print(
            f"{escape(chain)}: blocks {result.start}..{result.end} already backfilled, "
            "nothing to do"
        )
        return
    resumed = f" (resumed at {result.resumed_from})" if result.resumed_from != result.start else ""
    out.print(
        f"{escape(chain)}: backfilled blocks {result.start}..{result.end}{resumed} of {scope}"
    )
    out.print(
        f"blocks {result.blocks}, logs {result.logs}, decoded {decoded}, "
        f"undecoded {result.logs - decoded}, elapsed {result.elapsed:.2f} s, "
        f"rate {result.rate:.0f} logs/s, chunks {result.chunks}, splits {result.splits}"
    )


def _rules_summary(loaded: LoadedPlan, chain: str, replay: LogReplay | None) -> None:
    skipped = "state, transaction and trace rules do not run in a backfill"
    if replay is None:
        if loaded.plan.rules:
            out.print(f"rules: no log rules on {escape(chain)}; {skipped}")
        return
    count = len(replay.detector.rules)
    out.print(
        f"rules: {count} log rule{'s' * (count != 1)}, findings {replay.findings}, "
        f"new alerts {replay.alerts} ({skipped})"
    )
