"""The attack-contract rule's simulator, in a process of its own.

pyrevm reads the forked state over HTTP while holding the interpreter's lock (measured here:
a thread waiting on a slow node stops every other thread, the event loop included, and a
node that never answers stops them for good). So the screen runs in a child process: the
monitor's threads never wait on the node, a block waits for its verdict at most the rule's
``wait_seconds``, and a simulation that hangs is ended with its process, said, and a fresh
process serves the next one.

The child is started on the first submission and kept; jobs run one at a time, in order. It
is this interpreter running :func:`serve`, talking over two pipes (pickled batches and
verdicts); it ends when its pipes close, so it never outlives the monitor.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection

from breakglass.respond.preexec.attack_contract import (
    AssetWatch,
    AttackContractScreen,
    Creation,
    Verdict,
)
from breakglass.respond.preexec.attack_contract_blocks import creation_forks
from breakglass.respond.preexec.fork_evm import SimulationError
from breakglass.respond.preexec.fork_node import Backend

__all__ = ["ScreenConfig", "ScreenWorker"]

_Job = tuple[list[Creation], "Future[list[Verdict]]"]


@dataclass(frozen=True)
class ScreenConfig:
    """Everything a screen is built from, sent to the child process (so: picklable)."""

    url: str
    chain_id: int
    block_time: float | None
    backend: Backend
    targets: dict[str, str]
    assets: tuple[AssetWatch, ...]
    threshold_usd: Decimal | None = None
    functions: tuple[str, ...] = ()
    max_selectors: int = 16
    max_creator_nonce: int = 5
    trusted: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"ScreenConfig(chain_id={self.chain_id}, targets={sorted(self.targets)})"

    def build(self) -> AttackContractScreen:
        forks = creation_forks(
            self.url, chain_id=self.chain_id, block_time=self.block_time, backend=self.backend
        )
        return AttackContractScreen(
            fork=forks,
            targets=dict(self.targets),
            assets=list(self.assets),
            threshold_usd=self.threshold_usd,
            functions=list(self.functions),
            max_selectors=self.max_selectors,
            max_creator_nonce=self.max_creator_nonce,
            trusted=self.trusted,
        )


def serve(read_fd: int, write_fd: int) -> None:
    """The child: build the screen from the config sent first, then judge each batch of
    creations sent and answer with the verdicts and the watched functions once known (the
    parent screens with them without a fork). Ends when the parent goes."""
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    try:
        screen = inbox.recv().build()
        while True:
            creations: Sequence[Creation] = inbox.recv()
            verdicts = [screen.examine(c) for c in creations]
            outbox.send((verdicts, screen.watched_selectors))
    except (EOFError, OSError):
        return


class ScreenWorker:
    """Runs batches of creations through a screen built from ``config``, in a child process.

    Args:
        stuck_after: seconds a batch may take before its process is ended and the batch
            fails with a :class:`SimulationError` (a node that stopped answering).
    """

    def __init__(self, config: ScreenConfig, name: str, *, stuck_after: float = 60.0) -> None:
        self.config = config
        self.name = name
        self.stuck_after = stuck_after
        self.selectors: set[str] | None = None
        """The watched contracts' functions, once the child has read them."""
        self.restarts = 0
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._conn: Connection | None = None
        self._pump = threading.Thread(target=self._run, name=name, daemon=True)
        self._pump.start()

    def submit(self, creations: list[Creation]) -> Future[list[Verdict]]:
        future: Future[list[Verdict]] = Future()
        self._jobs.put((creations, future))
        return future

    def close(self) -> None:
        """Stop the pump and the child (pending batches are cancelled)."""
        self._jobs.put(None)
        self._stop_child()

    def _start_child(self) -> Connection:
        # A plain interpreter, not multiprocessing: spawning re-runs the parent's main
        # script, which a script without a main guard cannot survive.
        child_in, parent_out = os.pipe()
        parent_in, child_out = os.pipe()
        code = (
            "from breakglass.respond.preexec.attack_contract_worker import serve; "
            f"serve({child_in}, {child_out})"
        )
        try:
            process = subprocess.Popen(  # this interpreter, our own module
                [sys.executable, "-c", code],
                pass_fds=(child_in, child_out),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(child_in)
            os.close(child_out)
        outbox = Connection(parent_out, readable=False)
        inbox = Connection(parent_in, writable=False)
        outbox.send(self.config)
        self._process, self._outbox, self._conn = process, outbox, inbox
        return inbox

    def _stop_child(self) -> None:
        process, self._process = self._process, None
        for conn in (self._outbox, self._conn):
            if conn is not None:
                conn.close()
        self._outbox = self._conn = None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            creations, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._judge(creations))
            except BaseException as exc:  # handed to the block that waits for it
                future.set_exception(exc)

    def _judge(self, creations: list[Creation]) -> list[Verdict]:
        try:
            conn = self._conn or self._start_child()
            assert self._outbox is not None
            self._outbox.send(creations)
            # The first batch also waits for the child to start (imports, about a second).
            if not conn.poll(self.stuck_after):
                self._stop_child()
                self.restarts += 1
                raise SimulationError(
                    f"no verdict within {self.stuck_after:.0f} s (does the node answer?); "
                    "the simulator was restarted"
                )
            verdicts, selectors = conn.recv()
        except (EOFError, OSError) as exc:
            self._stop_child()
            self.restarts += 1
            raise SimulationError(f"the simulator process ended: {type(exc).__name__}") from exc
        if selectors is not None:
            self.selectors = set(selectors)
        return list(verdicts)
