"""A monitor process for the pipeline crash test: the monitor of ``breakglass monitor
--watch-only`` as :func:`breakglass.runtime.monitor.build_monitor` wires it, on a plan and a
database, until SIGTERM (or the SIGKILL the test sends).

Run as ``python tests/events/pipeline_worker.py --plan PLAN --rpc URL --db sqlite:///...
--start N [--die-after-commit K | --die-after-event K]``.
Without a checkpoint it first records block ``N`` as one, so every run (the reference and
the killed ones) detects the same blocks, ``N + 1`` on. Prints ``ready`` once wired, then
``event <kind> <id>`` as each event has been through every consumer (before the relay marks
it). With ``--die-after-commit K`` it SIGKILLs itself right after the block stream's K-th
commit, before the relay is woken for it (between a block's commit and any work on its
events); with ``--die-after-event K`` right after the K-th event went through every
consumer, before the relay marked it. A kill from outside lands anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import structlog

from breakglass import store
from breakglass.events import Event, event_kinds
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_monitor

CHAIN = "local"


def _rpc(url: str, method: str, *params: object) -> object:
    answer = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    return answer.json()["result"]


def _seed(url: str, db: str, start: int) -> None:
    """The checkpoint at ``start``, as if an earlier monitor had delivered it."""
    sessions = store.session_factory(store.make_engine(db))
    with sessions() as session, session.begin():
        if store.get_checkpoint(session, chain=CHAIN) is not None:
            return
        block = _rpc(url, "eth_getBlockByNumber", hex(start), False)
        genesis = _rpc(url, "eth_getBlockByNumber", "0x0", False)
        assert isinstance(block, dict) and isinstance(genesis, dict)
        store.add_canonical_block(
            session,
            chain=CHAIN,
            number=start,
            block_hash=block["hash"],
            parent_hash=block["parentHash"],
            timestamp=int(block["timestamp"], 16),
            keep=64,
            now=datetime.now(UTC),
            chain_id=int(str(_rpc(url, "eth_chainId")), 16),
            genesis_hash=genesis["hash"],
        )


def _die_after(count: int | None) -> Callable[[], None]:
    """Called once per occasion: SIGKILL this process on the ``count``-th."""
    seen = [0]

    def occasion() -> None:
        seen[0] += 1
        if seen[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)

    return occasion


async def main(
    plan_path: str, rpc: str, db: str, start: int, after_commit: int | None, after_event: int | None
) -> None:
    store.upgrade(db)
    loaded = load_plan(plan_path)
    _seed(rpc, db, start)
    engine = store.make_engine(db)
    app = build_monitor(loaded, chain=CHAIN, sessions=store.session_factory(engine), respond=False)
    app.relay.batch = 3  # marks often: a kill leaves few delivered-but-unmarked events
    event_done, wake, commit_done = (
        _die_after(after_event),
        app.relay.wake,
        _die_after(after_commit),
    )

    async def trace(event: Event) -> None:
        print(f"event {event.KIND} {event.event_id}", flush=True)
        event_done()

    def committed() -> None:
        commit_done()
        wake()

    app.bus.subscribe("test.trace", list(event_kinds().values()), trace)
    app.relay.wake = committed  # type: ignore[method-assign]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await app.run(stop, poll_interval=0.05)
    finally:
        engine.dispose()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--die-after-commit", type=int)
    parser.add_argument("--die-after-event", type=int)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse(sys.argv[1:])
    # Logs go to stderr: stdout carries only the lines the test reads.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    asyncio.run(
        main(args.plan, args.rpc, args.db, args.start, args.die_after_commit, args.die_after_event)
    )
