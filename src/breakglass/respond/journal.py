"""The record of playbook runs: every step and every phase of it, with timestamps.

Responding comes first and writing it down second, but both happen: phases are handed to
``on_event`` at once (same clock as the rest of the process) and queued for one writer task
that stores them in order from a worker thread. A SQLite commit never sits between a new
block and a pause broadcast, and a crash loses at most the last few milliseconds of record,
never an action: every action's precheck makes re-running it after a restart harmless.

Each stored phase is also told to the other stages as a ``StepPhase`` event (and, when a
transaction landed, a check held or a Safe proposal was made, an ``ActionExecuted``), written
to the outbox in the same transaction as the phase's row: incidents learn what respond did
from those, never from these tables.

Announcements (a pause landed, a step failed) go through the same writer: they are queued
with the records, and queued as notifications after the records before them are committed,
so the reaction waits for neither the database nor the notifier.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import emit
from breakglass.logs import redact
from breakglass.respond.journal_events import step_events
from breakglass.store.models import PlaybookRun, StepEvent, StepRun

if TYPE_CHECKING:  # Apprise is slow to import; only the writer thread needs the notifier
    from breakglass.notify import Notifier

__all__ = ["Journal", "OnStepEvent", "PhaseEvent", "RunHandle", "StepHandle"]

_log = structlog.get_logger("breakglass.respond")

_RETRIES = 5
_RETRY_PAUSE = 0.1


@dataclass(frozen=True)
class PhaseEvent:
    """One phase of one step: ``precheck``, ``simulate``, ``broadcast``, ``receipt``,
    ``verify``, ``done``, ``skipped``, ``waiting``, ``failed`` or ``fallback``."""

    run_id: int | None
    step: int
    action: str
    phase: str
    perf: float
    at: datetime
    detail: dict[str, Any]


OnStepEvent = Callable[[PhaseEvent], None]


@dataclass
class RunHandle:
    playbook: str
    chain: str | None
    trigger: str
    dry_run: bool
    parent_step_id: int | None = None
    id: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class StepHandle:
    run: RunHandle
    position: int
    action: str
    mode: str
    summary: str
    id: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Announcement:
    """A notification the writer queues once the records before it are stored."""

    notifier: Callable[[], Notifier]
    event: str
    context: dict[str, Any]
    step: StepHandle

    def send(self) -> None:
        ids = {"run_id": self.step.run.id, "step_id": self.step.id}
        # an error text may quote a key or an endpoint URL; messages get what logs get
        context = dict(redact(None, "", {**self.context, **ids}))
        try:
            self.notifier().notify(self.event, context)
        except Exception as exc:  # the record stands; say loudly that nobody was told
            _log.error(
                "respond.announcement_failed",
                notify_event=self.event,
                error=repr(exc)[:500],
                hint="people were NOT told of this step; see `breakglass playbook runs`",
            )


@dataclass(frozen=True)
class _Record:
    """A write for the writer, and the handle it gives an id to (told when it is done)."""

    write: Callable[[Session], None]
    handle: RunHandle | StepHandle | None = None


_Item = _Record | _Announcement


class Journal:
    """Queues run, step and phase records for one writer; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        on_event: OnStepEvent | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._sessions = sessions
        self._on_event = on_event
        self._clock = clock
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        """Keep queuing but stop writing: the writer thread's Python code would compete for
        the interpreter lock with a pause on its way out. :meth:`release` resumes."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def open_run(
        self,
        playbook: str,
        *,
        chain: str | None,
        trigger: str,
        dry_run: bool = False,
        parent_step_id: int | None = None,
    ) -> RunHandle:
        run = RunHandle(playbook, chain, trigger, dry_run, parent_step_id)
        started = self._clock()

        def write(session: Session) -> None:
            row = PlaybookRun(
                playbook=playbook,
                chain=chain,
                trigger=trigger,
                dry_run=dry_run,
                status="running",
                parent_step_id=parent_step_id,
                started_at=started,
            )
            session.add(row)
            session.flush()
            run.id = row.id

        self._put(write, run)
        return run

    def finish_run(self, run: RunHandle, status: str) -> None:
        finished = self._clock() if status in ("succeeded", "failed") else None

        def write(session: Session) -> None:
            row = session.get(PlaybookRun, run.id)
            if row is not None:
                row.status = status
                row.finished_at = finished

        self._put(write)

    def open_step(
        self, run: RunHandle, position: int, action: str, mode: str, summary: str
    ) -> StepHandle:
        step = StepHandle(run, position, action, mode, summary)
        now = self._clock()

        def write(session: Session) -> None:
            row = StepRun(
                run_id=run.id,
                position=position,
                action=action,
                mode=mode,
                summary=summary,
                status="pending",
                updated_at=now,
            )
            session.add(row)
            session.flush()
            step.id = row.id

        self._put(write, step)
        return step

    def phase(self, step: StepHandle, phase: str, **detail: Any) -> PhaseEvent:
        """Record a phase now; a ``status`` detail also updates the step's status."""
        event = PhaseEvent(
            step.run.id,
            step.position,
            step.action,
            phase,
            time.perf_counter(),
            self._clock(),
            detail,
        )
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:  # an observer must not break a response
                _log.error("respond.on_event_failed", error=repr(exc))

        def write(session: Session) -> None:
            stored = StepEvent(step_id=step.id, phase=phase, at=event.at, detail=detail)
            session.add(stored)
            session.flush()
            try:
                told = step_events(step, stored)
            except ValidationError as exc:  # keep the record; say loudly who was not told
                _log.error(
                    "respond.step_event_not_built",
                    step_id=step.id,
                    phase=phase,
                    error=str(exc)[:500],
                    hint="incidents will not see this phase on the timeline",
                )
                told = []
            for event_out in told:
                emit(session, event_out)
            row = session.get(StepRun, step.id)
            if row is None:
                return
            row.updated_at = event.at
            if "status" in detail:
                row.status = str(detail["status"])
            if "tx_hash" in detail:
                row.tx_hash = str(detail["tx_hash"])
            if "error" in detail:
                row.error = str(detail["error"])[:2000]
            if "by" in detail:
                row.decided_by = str(detail["by"])

        self._put(write)
        return event

    def announce(
        self,
        step: StepHandle,
        event: str,
        context: dict[str, Any],
        *,
        notifier: Callable[[], Notifier],
    ) -> None:
        """Queue ``event`` about ``step`` for the plan's channels, behind the records queued
        so far (the message names the stored run and step).

        ``notifier`` is called in the writer thread, so the caller never imports or waits
        for the notification service."""
        self._enqueue(_Announcement(notifier, event, context, step))

    async def flush(self) -> None:
        """Wait until everything queued so far is stored."""
        if self._writer is None:
            return
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _put(
        self, write: Callable[[Session], None], handle: RunHandle | StepHandle | None = None
    ) -> None:
        self._enqueue(_Record(write, handle))

    def _enqueue(self, item: _Item) -> None:
        self._queue.put_nowait(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            await self._open.wait()
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                ready = await asyncio.to_thread(self._write, batch)
                for event in ready:
                    event.set()
            except Exception as exc:  # keep the response going; say loudly what was lost
                _log.error("respond.journal_write_failed", error=repr(exc)[:500], items=len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[_Item]) -> list[asyncio.Event]:
        """Store ``batch``'s records in one transaction; returns the events of the handles
        it named, to set on the loop.

        A batch that still cannot be stored after the retries of :meth:`_store` is lost,
        loudly; its handles keep no id (no later record may name a row that does not exist
        or, on SQLite, another run's) and are told anyway, so a run waiting for its id
        finishes instead of hanging, and its playbook can run again.
        """
        records = [item for item in batch if isinstance(item, _Record)]
        handles = [r.handle for r in records if r.handle is not None]
        try:
            if records:
                self._store(records)
        except Exception as exc:  # the records are lost, not the run: said loudly below
            for handle in handles:
                handle.id = None
            _log.error(
                "respond.journal_write_failed",
                error=repr(exc)[:500],
                items=len(batch),
                hint="these step records and their events are lost; see the database's logs",
            )
        finally:  # a lost record must not also silence the people who should hear of it
            for item in batch:
                if isinstance(item, _Announcement):
                    item.send()
        return [handle.ready for handle in handles]

    def _store(self, records: list[_Record]) -> None:
        """Write ``records`` in one transaction, waiting out a database that is locked or
        gone for a moment (``_RETRIES`` times, the pause doubling): a dropped batch would
        lose the run's phases and their events for good, so incidents would never hear of
        the step."""
        for attempt in range(_RETRIES + 1):
            try:
                with self._sessions() as session, session.begin():
                    for record in records:
                        record.write(session)
            except OperationalError as exc:
                if attempt == _RETRIES:
                    raise
                _log.warning("respond.journal_write_retry", error=repr(exc)[:300])
                time.sleep(_RETRY_PAUSE * 2**attempt)
            else:
                return
