"""One scale-out replica for the cluster tests and the failover benchmark: what
``breakglass monitor PLAN --bus nats://…`` runs, on PostgreSQL, until SIGTERM or SIGKILL.

Run as ``python tests/cluster/replica.py --plan PLAN --db postgresql://… --nats nats://…``
with the guardian's key in ``GUARDIAN_KEY``. Prints ``ready`` once wired, then
``block <chain> <number>`` as each block has been through its rules and responder; logs go
to stderr, warnings and up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

import structlog

from breakglass import store
from breakglass.ingest import BlockAdded
from breakglass.plan import load_plan
from breakglass.runtime.scaleout import build_replica


def _printed(block: BlockAdded, findings: int) -> None:
    print(f"block {block.chain} {block.number} {findings}", flush=True)


async def main(args: argparse.Namespace) -> None:
    store.upgrade(args.db)
    loaded = load_plan(args.plan)
    engine = store.make_engine(args.db)
    fleet = await build_replica(
        loaded,
        chains=sorted(loaded.plan.chains),
        sessions=store.session_factory(engine),
        database_url=args.db,
        nats_url=args.nats,
        ttl=args.ttl,
        environ=dict(os.environ),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await fleet.run(stop, poll_interval=0.1, on_block=_printed)
    finally:
        engine.dispose()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--nats", required=True)
    parser.add_argument("--ttl", type=float, default=2.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    asyncio.run(main(_parse(sys.argv[1:])))
