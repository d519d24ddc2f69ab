"""The monitor's watch over itself, put together: health checks, heartbeat, status line.

:func:`~breakglass.detect.monitor.run_monitor` builds one :class:`SelfWatch` per chain. Its
alerts are stored like the rules' (with their ``AlertRaised`` events) and both kinds pass
:meth:`SelfWatch.committed`, so the status line's last alert is the last of either kind and
the relay is woken after either commits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.pool import EndpointPool
from breakglass.detect.alerts import Alert, AlertBook
from breakglass.detect.engine import Detector
from breakglass.detect.health import Check, Condition, HealthWatch, MonitorStatus, Vitals
from breakglass.detect.health_checks import build_checks
from breakglass.detect.heartbeat import Heartbeat
from breakglass.detect.state import StateCall
from breakglass.errors import ConfigError
from breakglass.ingest import BlockAdded
from breakglass.plan.models import Plan

__all__ = ["SelfWatch", "monitor_status"]


class SelfWatch:
    """Health watch, heartbeat and status reports of one chain's monitor.

    Raises:
        ConfigError: the heartbeat URL refers to an unset environment variable (when built,
            so the monitor refuses to start rather than run without its switch).
    """

    def __init__(
        self,
        *,
        plan: Plan,
        chain: str,
        book: AlertBook,
        sessions: sessionmaker[Session],
        on_commit: Callable[[], None] | None,
        on_clear: Callable[[Condition], None] | None,
        on_block: Callable[[BlockAdded, int], None] | None,
        clock: Callable[[], datetime],
    ) -> None:
        config = plan.chains[chain]
        self.plan = plan
        self.chain = chain
        self._on_commit = on_commit
        self._on_block = on_block
        self.last_alert: str | None = None
        self.vitals = Vitals()
        self.watch = HealthWatch(
            chain=chain,
            checks=[],
            vitals=self.vitals,
            book=book,
            sessions=sessions,
            on_alert=self.alerted,
            grace=config.health.grace.total_seconds(),
            check_every=config.health.check_every.total_seconds(),
            on_clear=on_clear,
            clock=clock,
        )
        self.heartbeat: Heartbeat | None = None
        if config.heartbeat is not None:
            try:
                self.heartbeat = Heartbeat(
                    url=config.heartbeat.url,
                    every=config.heartbeat.every.total_seconds(),
                    alive=self.watch.watching,
                    chain=chain,
                )
            except ConfigError as exc:
                raise ConfigError(f"chains.{chain}.heartbeat.url: {exc}") from None
        self._tasks: list[asyncio.Task[None]] = []

    def observe(self, block: BlockAdded, state: Mapping[StateCall, Any], findings: int) -> None:
        """A block was evaluated (in the sink: cheap, no I/O)."""
        self.vitals.observe(block, state)
        if self._on_block is not None:
            self._on_block(block, findings)

    def alerted(self, alert: Alert) -> None:
        """A health alert was committed."""
        self.committed([alert])

    def committed(self, alerts: list[Alert]) -> None:
        """A transaction that may hold events committed (``alerts`` are those it raised)."""
        if alerts:
            self.last_alert = alerts[-1].finding.title
        if self._on_commit is not None:
            self._on_commit()

    def start(
        self,
        *,
        pool: EndpointPool,
        detector: Detector,
        responder: object | None,
        stop: asyncio.Event,
        on_status: Callable[[MonitorStatus], None] | None = None,
        status_every: float = 60.0,
        extra: Sequence[Check] = (),
    ) -> None:
        """Start checking (after the responder armed: the checks ask it what it armed)."""
        self.watch.checks = [
            *build_checks(
                plan=self.plan,
                chain=self.chain,
                pool=pool,
                detector=detector,
                vitals=self.vitals,
                responder=responder,
            ),
            *extra,
        ]
        self._tasks.append(asyncio.create_task(self.watch.run(stop)))
        if self.heartbeat is not None:
            self._tasks.append(asyncio.create_task(self.heartbeat.run(stop)))
        if on_status is not None:
            report = on_status

            def status() -> None:
                report(
                    monitor_status(
                        watch=self.watch,
                        pool=pool,
                        rules=len(detector.rules),
                        rules_disabled=len(detector.disabled),
                        armed=getattr(responder, "armed", None),
                        last_alert=self.last_alert,
                    )
                )

            self._tasks.append(asyncio.create_task(_every(status_every, stop, status)))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _every(seconds: float, stop: asyncio.Event, work: Callable[[], None]) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        if not stop.is_set():
            work()


def monitor_status(
    *,
    watch: HealthWatch,
    pool: EndpointPool,
    rules: int,
    rules_disabled: int,
    armed: int | None,
    last_alert: str | None,
) -> MonitorStatus:
    """A snapshot for the status line; endpoint heads are those the last checks saw."""
    stats = pool.stats()
    healthy_at = pool.health_policy.healthy_at
    healthy = sum(1 for s in stats.values() if s["stale"] is None and s["score"] >= healthy_at)
    head = watch.vitals.head
    tops = [s["head"] for s in stats.values() if isinstance(s["head"], int)]
    lag = max(0, max(tops) - head.number) if tops and head is not None else None
    return MonitorStatus(
        chain=watch.chain,
        head=head.number if head is not None else None,
        head_age=watch.vitals.head_age(),
        lag=lag,
        endpoints_healthy=healthy,
        endpoints=len(stats),
        rules=rules,
        rules_disabled=rules_disabled,
        armed=armed,
        standing=tuple(c.key.rstrip(":") for c in watch.standing),
        last_alert=last_alert,
    )
