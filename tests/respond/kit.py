"""Helpers the respond tests share beside their fixtures: a monitor running with a responder
for the length of a block of the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.monitor import run_monitor
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.responder import Responder


@asynccontextmanager
async def running_monitor(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    responder: Responder,
    *,
    chain: str = "local",
    settle: float = 0.5,
) -> AsyncIterator[asyncio.Task[None]]:
    """The monitor of ``chain`` with ``responder``, watching for ``settle`` seconds before
    the block runs (so what the block sends lands in a watched block), stopped and awaited
    after it; the monitor's task, to see whether it ended early."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_monitor(
            loaded_plan=loaded,
            chain=chain,
            sessions=sessions,
            stop_event=stop,
            poll_interval=0.05,
            responder=responder,
        )
    )
    await asyncio.sleep(settle)
    try:
        yield task
    finally:
        stop.set()
        await task
