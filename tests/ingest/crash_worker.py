"""An ingesting process for the crash tests: follows a chain forever, with a transactional sink.

Run as ``python tests/ingest/crash_worker.py --rpc URL --db sqlite:///... --chain local``.
Every delivered event is written to ``sink_events`` in the checkpoint's own transaction, so
a SIGKILL at any moment loses both or neither. Prints ``ready`` once it is about to follow
heads (after migrations and after loading any checkpoint it resumes from).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session

from breakglass import store
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.ingest import (
    BlockAdded,
    BlockFetcher,
    BlockStream,
    CheckpointStore,
    FetchSpec,
    PollHeads,
    StreamEvent,
)

SINK_TABLE = (
    "CREATE TABLE IF NOT EXISTS sink_events ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, number INT NOT NULL, "
    "hash TEXT NOT NULL)"
)


async def record(event: StreamEvent, session: Session) -> None:
    """The transactional sink: one row per event, committed with the checkpoint."""
    kind = "add" if isinstance(event, BlockAdded) else "remove"
    session.execute(
        text("INSERT INTO sink_events (kind, number, hash) VALUES (:kind, :number, :hash)"),
        {"kind": kind, "number": event.number, "hash": event.hash},
    )


async def main(rpc: str, db: str, chain: str, interval: float) -> None:
    store.upgrade(db)
    engine = store.make_engine(db)
    with engine.begin() as connection:
        connection.execute(text(SINK_TABLE))
    pool = EndpointPool([Endpoint(rpc)], timeout=5.0)
    fetcher = BlockFetcher(pool, FetchSpec(logs=True))
    stream = BlockStream(
        chain=chain,
        fetcher=fetcher,
        checkpoints=CheckpointStore(store.session_factory(engine), chain),
        sinks=[record],
    )
    resumed = stream.tip.number if stream.tip is not None else None
    print(f"ready resumed={resumed}", flush=True)
    try:
        await stream.run(PollHeads(fetcher, interval=interval))
    finally:
        await pool.aclose()
        engine.dispose()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--chain", default="local")
    parser.add_argument("--interval", type=float, default=0.05)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse(sys.argv[1:])
    # Logs go to stderr: stdout carries only the ``ready`` line the test waits for.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    asyncio.run(main(args.rpc, args.db, args.chain, args.interval))
