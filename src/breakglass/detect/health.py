"""The monitor watching itself: its own trouble as ``breakglass.health`` alerts.

A monitor that no longer sees new heads, whose endpoints all fail, whose rules cannot read
their state or watch an address without code, whose rules tripped their failure budget,
whose automatic steps are not armed, or whose keys cannot pay for a pause protects nothing,
and nobody notices unless it says so. :class:`HealthWatch` runs its checks every
``check_every`` on its own task: "no new head" is the absence of blocks, so it cannot be
seen from the block sink.

A condition that lasts its ``grace`` becomes one alert, stored by the same
:class:`~breakglass.detect.alerts.AlertBook` as a rule's, with the same ``AlertRaised``
event, so the incident desk opens an incident and pages the lead. It then stands, raising nothing
more, until it clears, when its alert is marked resolved: one alert per episode, no storm.

A health finding belongs to no block. Its ``block_number`` is the last head seen and its
``block_hash`` the episode's id (a hash of chain, check, subject and start), so its dedupe
key is one per episode and a reorg never retracts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.alerts import Alert, AlertBook
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.state import StateCall
from breakglass.ingest import BlockAdded, BlockHeader
from breakglass.store import AlertRecord

__all__ = [
    "HEALTH_RULE",
    "PAUSE_GAS",
    "Check",
    "Condition",
    "HealthWatch",
    "MonitorStatus",
    "Vitals",
]

_log = structlog.get_logger("breakglass.detect")

HEALTH_RULE = "breakglass.health"
_BLIND = frozenset({"no-head", "endpoints"})
PAUSE_GAS = 100_000
"""Gas budgeted per emergency transaction: an OpenZeppelin ``pause()`` takes about 30k."""


@dataclass(frozen=True)
class Condition:
    """One thing wrong with the monitor; ``check`` and ``subject`` name it across ticks."""

    check: str
    subject: str
    title: str
    description: str
    severity: Severity = Severity.HIGH
    addresses: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.check}:{self.subject}"


class Check(Protocol):
    """A health check: the conditions that hold now. Raising means "cannot tell"."""

    name: str

    async def __call__(self) -> list[Condition]: ...


@dataclass
class Vitals:
    """What the block sink tells the watch: the newest block and the state read at it."""

    clock: Callable[[], float] = time.monotonic
    head: BlockHeader | None = None
    head_at: float | None = None
    state: Mapping[StateCall, Any] = field(default_factory=dict)
    started_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    def observe(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> None:
        self.head, self.head_at, self.state = block.header, self.clock(), state

    def head_age(self) -> float:
        """Seconds since the last delivered block (or since the watch started)."""
        return self.clock() - (self.head_at if self.head_at is not None else self.started_at)


@dataclass
class _Episode:
    condition: Condition
    since: float
    started: datetime
    dedupe_key: str | None = None


@dataclass(frozen=True)
class MonitorStatus:
    """What the monitor is doing, for a status line."""

    chain: str
    head: int | None
    head_age: float
    lag: int | None
    endpoints_healthy: int
    endpoints: int
    rules: int
    rules_disabled: int
    armed: int | None
    standing: tuple[str, ...]
    last_alert: str | None

    def summary(self) -> str:
        head = "no block yet" if self.head is None else f"head {self.head}"
        lag = "" if self.lag is None else f", {self.lag} behind"
        armed = "?" if self.armed is None else str(self.armed)
        disabled = f" ({self.rules_disabled} disabled)" if self.rules_disabled else ""
        health = ", ".join(self.standing) if self.standing else "ok"
        return (
            f"{self.chain}: {head} ({self.head_age:.0f}s ago{lag}) | endpoints "
            f"{self.endpoints_healthy}/{self.endpoints} healthy | rules {self.rules}{disabled}"
            f" | armed {armed} | health {health} | last alert {self.last_alert or 'none'}"
        )


class HealthWatch:
    """Runs ``checks`` every ``check_every`` seconds and raises each lasting condition once.

    Args:
        book: stores health alerts as it stores rule alerts (suppression, correlation).
        sessions: each raise is committed in its own transaction (with its events)
            before ``on_alert`` is told of it.
        grace: seconds a condition must hold before it alerts.
        on_clear: told when a raised condition clears.
        clock: wall time, for the alerts; ``vitals.clock`` measures durations.
    """

    def __init__(
        self,
        *,
        chain: str,
        checks: Sequence[Check],
        vitals: Vitals,
        book: AlertBook,
        sessions: sessionmaker[Session],
        on_alert: Callable[[Alert], None],
        grace: float,
        check_every: float,
        on_clear: Callable[[Condition], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.chain = chain
        self.checks = list(checks)
        self.vitals = vitals
        self.book = book
        self.sessions = sessions
        self.on_alert = on_alert
        self.on_clear = on_clear
        self.grace = grace
        self.check_every = check_every
        self.clock = clock
        self._episodes: dict[str, _Episode] = {}

    @property
    def standing(self) -> list[Condition]:
        """Conditions that have alerted and not cleared."""
        return [e.condition for e in self._episodes.values() if e.dedupe_key is not None]

    def watching(self) -> bool:
        """False while the chain is not followed (no new head, no endpoint answering), even
        within the grace: a heartbeat is withheld at once."""
        return not any(e.condition.check in _BLIND for e in self._episodes.values())

    @property
    def pending(self) -> list[Condition]:
        """Conditions seen but still within their grace."""
        return [e.condition for e in self._episodes.values() if e.dedupe_key is None]

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged, never fatal."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the watch must outlive its own bugs
                _log.error("detect.health_tick_failed", chain=self.chain, error=repr(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_every)

    async def tick(self) -> list[Alert]:
        """Run every check once; returns the alerts raised (new and not suppressed)."""
        now = self.vitals.clock()
        found: dict[str, Condition] = {}
        blind: set[str] = set()
        for check in self.checks:
            try:
                conditions = await check()
            except Exception as exc:  # cannot tell: keep what that check said last time
                blind.add(check.name)
                _log.warning("detect.health_check_failed", check=check.name, error=repr(exc)[:300])
                continue
            found.update((c.key, c) for c in conditions)
        for key, gone in list(self._episodes.items()):
            if key not in found and gone.condition.check not in blind:
                del self._episodes[key]
                self._cleared(gone)
        for key, condition in found.items():
            episode = self._episodes.get(key)
            if episode is None:
                self._episodes[key] = _Episode(condition, now, self.clock())
                _log.warning("detect.health_condition", chain=self.chain, condition=key)
            elif episode.dedupe_key is None:
                episode.condition = condition
        due = [
            e
            for e in self._episodes.values()
            if e.dedupe_key is None and now - e.since >= self.grace
        ]
        return self._raise(due) if due else []

    def _finding(self, episode: _Episode) -> Finding:
        condition = episode.condition
        head = self.vitals.head
        seed = f"{self.chain}|{condition.key}|{episode.started.isoformat()}"
        return Finding(
            rule=f"{HEALTH_RULE}.{condition.check}",
            kind="health",
            chain=self.chain,
            block_number=head.number if head is not None else 0,
            block_hash="0x" + hashlib.sha256(seed.encode()).hexdigest(),
            severity=condition.severity,
            confidence=Confidence.HIGH,
            title=condition.title,
            description=condition.description,
            addresses=condition.addresses,
            data={
                **condition.data,
                "check": condition.check,
                "subject": condition.subject,
                "since": episode.started.isoformat(),
                "head_hash": head.hash if head is not None else None,
            },
        )

    def _raise(self, due: list[_Episode]) -> list[Alert]:
        findings = [self._finding(e) for e in due]
        now = self.clock()
        with self.sessions.begin() as session:
            alerts = self.book.record(session, findings=findings, block_time=now, now=now)
        for episode, finding in zip(due, findings, strict=True):
            episode.dedupe_key = finding.dedupe_key
            _log.error(
                "detect.health_alert",
                chain=self.chain,
                condition=episode.condition.key,
                title=episode.condition.title,
            )
        for alert in alerts:
            try:
                self.on_alert(alert)
            except Exception as exc:  # a broken printer or channel must not stop the watch
                _log.error("detect.on_alert_failed", alert=alert.dedupe_key, error=repr(exc))
        return alerts

    def _cleared(self, episode: _Episode) -> None:
        if episode.dedupe_key is None:
            _log.info("detect.health_condition_passed", condition=episode.condition.key)
            return
        with self.sessions.begin() as session:
            _mark_resolved(session, dedupe_key=episode.dedupe_key, at=self.clock())
        _log.warning("detect.health_resolved", chain=self.chain, condition=episode.condition.key)
        if self.on_clear is not None:
            try:
                self.on_clear(episode.condition)
            except Exception as exc:  # as above
                _log.error("detect.on_clear_failed", error=repr(exc)[:300])


def _mark_resolved(session: Session, *, dedupe_key: str, at: datetime) -> None:
    """The alert stays open (the trouble was real); its data says when it ended."""
    row = session.scalars(select(AlertRecord).where(AlertRecord.dedupe_key == dedupe_key)).first()
    if row is not None:
        row.data = {**row.data, "resolved_at": at.isoformat()}
