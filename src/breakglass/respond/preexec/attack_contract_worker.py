"""The attack-contract rule's worker: one daemon thread that runs the screen's simulations."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from breakglass.respond.preexec.attack_contract import Verdict

__all__ = ["ScreenWorker"]


class ScreenWorker:
    """One daemon thread running simulations in order: a fork's reads are blocking calls,
    and a node that hangs must neither stall the monitor beyond its wait nor hold up exit."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], list[Verdict]], Future[list[Verdict]]]] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], list[Verdict]]) -> Future[list[Verdict]]:
        future: Future[list[Verdict]] = Future()
        self._jobs.put((job, future))
        return future

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the block that waits
                future.set_exception(exc)
