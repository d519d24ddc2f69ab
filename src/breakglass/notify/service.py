"""The notification service: queue messages for channels, deliver them, page roles."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from breakglass.notify.errors import DeliveryError, NotifyError
from breakglass.notify.paging import Paging
from breakglass.notify.queue import LEASE, MAX_ATTEMPTS, DeliveryStatus, backoff, enqueue
from breakglass.notify.render import render
from breakglass.notify.transport import DELIVERY_DEADLINE_S, Target, send
from breakglass.plan.models.base import Secret
from breakglass.plan.models.plan import Plan
from breakglass.plan.models.response import Audience
from breakglass.store.models import Delivery

__all__ = ["PUBLIC_EVENTS", "Notifier"]

_log = structlog.get_logger("breakglass.notify")

_STOP_GRACE_S = 5.0
"""How long a stopping notifier waits for the deliveries in flight to settle."""

PUBLIC_EVENTS = frozenset({"status_update"})
"""What an external (public) channel without an ``events`` list receives."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Claim:
    id: int
    channel: str
    attempts: int
    title: str
    body: str
    payload: dict[str, Any]


class Notifier(Paging):
    """Renders messages, keeps them in the delivery log and delivers them with retries.

    Nothing is sent by :meth:`notify`: it writes rows, and :meth:`deliver_due` (or
    :meth:`run`) sends them. A failed attempt is retried with :data:`~.queue.BACKOFF`;
    after :data:`~.queue.MAX_ATTEMPTS` the row is ``failed`` and an error is logged.
    """

    def __init__(
        self,
        plan: Plan,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = _utcnow,
        environ: Mapping[str, str] | None = None,
        group_window: timedelta = timedelta(minutes=1),
        max_attempts: int = MAX_ATTEMPTS,
        deadline_s: float = DELIVERY_DEADLINE_S,
        concurrency: int = 8,
    ) -> None:
        self._plan = plan
        self._sessions = sessions
        self._clock = clock
        self._environ = None if environ is None else dict(environ)
        self._group_window = group_window
        self._max_attempts = max_attempts
        self._deadline_s = deadline_s
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- queueing -------------------------------------------------------------------------

    def channels_for(self, event: str) -> list[str]:
        """Channels that receive ``event`` when the caller names none.

        A channel with ``events`` gets those; without, an internal channel gets every event
        and an external one only :data:`PUBLIC_EVENTS`, so alerts never go public by default.
        """
        chosen = []
        for name, channel in self._plan.channels.items():
            if channel.events:
                wanted = event in channel.events
            else:
                wanted = channel.audience == Audience.INTERNAL or event in PUBLIC_EVENTS
            if wanted:
                chosen.append(name)
        return chosen

    def _context(self, context: Mapping[str, Any], incident_id: int | None) -> dict[str, Any]:
        merged: dict[str, Any] = {"protocol": self._plan.protocol, **context}
        if incident_id is not None:
            merged["incident_id"] = incident_id
        return merged

    def notify(
        self,
        event: str,
        context: Mapping[str, Any],
        *,
        channels: Sequence[str] | None = None,
        incident_id: int | None = None,
        group_key: str | None = None,
        session: Session | None = None,
    ) -> list[int]:
        """Render ``event`` and queue one delivery per channel; returns the delivery ids.

        ``channels`` None means :meth:`channels_for`. A rate-limited or grouped message
        returns the id of the digest that carries it. With ``session`` the deliveries join
        the caller's transaction (stored with the change they announce, or not at all).

        Raises:
            NotifyError: a named channel is not in the plan.
        """
        names = self.channels_for(event) if channels is None else list(channels)
        unknown = [name for name in names if name not in self._plan.channels]
        if unknown:
            raise NotifyError(f"no channel {', '.join(unknown)} in the plan")
        now = self._clock()
        message = render(event, self._context(context, incident_id), now=now)
        ids: list[int] = []
        with nullcontext(session) if session is not None else self._sessions.begin() as tx:
            for name in names:
                ids.append(
                    enqueue(
                        tx,
                        name,
                        message,
                        {"channel": name},
                        now=now,
                        group_key=group_key,
                        incident_id=message.incident_id,
                        max_per_minute=self._plan.channels[name].max_per_minute,
                        group_window=self._group_window,
                    )
                )
        _log.info("notify.queued", notify_event=event, channels=names, deliveries=ids)
        return ids

    def notify_url(
        self,
        url: Secret | str,
        event: str,
        context: Mapping[str, Any],
        *,
        label: str,
        session: Session | None = None,
    ) -> int:
        """Queue ``event`` for a one-off target, such as an external party's contact.

        The URL's *template* is kept so a restart can still deliver: put its tokens in
        ``${ENV}`` references. ``label`` names the target in the log and the CLI. With
        ``session`` the delivery joins the caller's transaction.
        """
        template = url if isinstance(url, Secret) else Secret(url)
        now = self._clock()
        message = render(event, self._context(context, None), now=now)
        with nullcontext(session) if session is not None else self._sessions.begin() as tx:
            delivery = enqueue(
                tx,
                label,
                message,
                {"url": template.template, "label": label},
                now=now,
                incident_id=message.incident_id,
            )
        _log.info("notify.queued", notify_event=event, channels=[label], deliveries=[delivery])
        return delivery

    # -- delivery -------------------------------------------------------------------------

    def _target(self, spec: Mapping[str, Any]) -> Target:
        if "channel" in spec:
            channel = self._plan.channels.get(spec["channel"])
            if channel is None:
                raise DeliveryError(f"channel {spec['channel']} left the plan", permanent=True)
            return Target(spec["channel"], channel.url, channel.signing_key, channel.signature)
        if "person" in spec:
            person = self._plan.people.get(spec["person"])
            if person is None or person.page is None:
                raise DeliveryError(f"{spec['person']} has no page URL", permanent=True)
            return Target(spec["person"], person.page)
        if "url" in spec:
            return Target(str(spec.get("label", "url")), Secret(spec["url"]))
        raise DeliveryError("delivery has no target", permanent=True)

    def _claim(
        self, *, ids: Sequence[int] | None = None, skip: Collection[str] = ()
    ) -> list[_Claim]:
        now = self._clock()
        claims: list[_Claim] = []
        query = select(Delivery).where(
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        if ids is not None:
            query = query.where(Delivery.id.in_(list(ids)))
        if skip:
            query = query.where(Delivery.channel.not_in(list(skip)))
        with self._sessions.begin() as session:
            rows = session.scalars(query.order_by(Delivery.id)).all()
            for row in rows:
                taken = session.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, Delivery.attempts == row.attempts)
                    .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
                if getattr(taken, "rowcount", 0) == 1:
                    claims.append(
                        _Claim(
                            row.id,
                            row.channel,
                            row.attempts + 1,
                            row.title,
                            row.body,
                            dict(row.payload),
                        )
                    )
        return claims

    async def _attempt(self, claim: _Claim) -> bool:
        error: DeliveryError | None = None
        try:
            target = self._target(claim.payload.get("target", {}))
            async with self._slots or contextlib.nullcontext():
                # Transport timeouts are per read: a receiver that trickles one byte at a
                # time never trips them, so the whole attempt has its own deadline.
                await asyncio.wait_for(
                    send(
                        target,
                        claim.title,
                        claim.body,
                        claim.payload.get("message", {}),
                        environ=self._environ,
                        now=self._clock(),
                    ),
                    self._deadline_s,
                )
        except DeliveryError as exc:
            error = exc
        except TimeoutError:
            error = DeliveryError(f"no answer within {self._deadline_s:g} s")
        return await asyncio.to_thread(self._settle, claim, error)

    def _settle(self, claim: _Claim, error: DeliveryError | None) -> bool:
        """Record the attempt's outcome; whether it was sent."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get_one(Delivery, claim.id)
            if error is None:
                row.status, row.sent_at = DeliveryStatus.SENT, now
                row.next_attempt_at, row.last_error = None, None
                _log.info(
                    "notify.sent", delivery=claim.id, channel=claim.channel, attempts=claim.attempts
                )
                return True
            row.last_error = str(error)[:1000]
            if error.permanent or claim.attempts >= self._max_attempts:
                row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
                _log.error(
                    "notify.delivery_failed",
                    delivery=claim.id,
                    channel=claim.channel,
                    attempts=claim.attempts,
                    error=row.last_error,
                    hint="the message was NOT delivered; see `breakglass notify log`",
                )
            else:
                row.status = DeliveryStatus.RETRYING
                row.next_attempt_at = now + backoff(claim.attempts)
                _log.warning(
                    "notify.retrying",
                    delivery=claim.id,
                    channel=claim.channel,
                    attempts=claim.attempts,
                    error=row.last_error,
                    next_attempt_at=row.next_attempt_at.isoformat(),
                )
        return False

    def _by_channel(
        self, *, ids: Sequence[int] | None = None, skip: Collection[str] = ()
    ) -> dict[str, list[_Claim]]:
        by_channel: dict[str, list[_Claim]] = defaultdict(list)
        for claim in self._claim(ids=ids, skip=skip):
            by_channel[claim.channel].append(claim)
        return by_channel

    async def _pause(self, stop: asyncio.Event, interval: float) -> None:
        wakeup = self._wakeup
        assert wakeup is not None
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wakeup.wait())}
        try:
            await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        wakeup.clear()

    def _bound(self) -> None:
        # Apprise runs most plugins in the loop's thread pool: a bound keeps a burst of slow
        # channels from taking every thread. Made per run, as a CLI runs one loop per call.
        self._slots = asyncio.Semaphore(self._concurrency)

    async def _serve(self, claims: list[_Claim]) -> int:
        return sum([await self._attempt(claim) for claim in claims])

    async def deliver_due(self, *, ids: Sequence[int] | None = None) -> int:
        """Send every pending or retrying delivery whose time has come (only ``ids``, when
        given); returns how many were sent. Channels are served concurrently, each one's
        messages in order, each attempt within the notifier's deadline."""
        by_channel = await asyncio.to_thread(self._by_channel, ids=ids)
        self._bound()
        return sum(await asyncio.gather(*(self._serve(c) for c in by_channel.values())))

    def wake(self) -> None:
        """Deliver now rather than at the next poll (callable from any thread): something
        was queued (``NotificationQueued``)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed since the check
            loop.call_soon_threadsafe(wakeup.set)

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Deliver and escalate when woken (:meth:`wake`), and every ``interval`` seconds
        in any case, until ``stop`` is set.

        Each channel's deliveries run as their own task, so a channel that is slow to
        answer holds back neither the other channels nor the next escalation round.
        """
        busy: dict[str, asyncio.Task[int]] = {}
        self._bound()
        self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        try:
            while not stop.is_set():
                try:
                    await self.escalate_due()
                    busy = {name: task for name, task in busy.items() if not task.done()}
                    # Claims are database work: off the loop, which carries the reaction.
                    claims_by = await asyncio.to_thread(self._by_channel, skip=set(busy))
                    for name, claims in claims_by.items():
                        busy[name] = asyncio.create_task(self._serve(claims))
                except Exception:  # a bad round must not end the loop that pages people
                    _log.exception("notify.round_failed")
                await self._pause(stop, interval)
        finally:
            self._loop = None
            await _finish(list(busy.values()), grace=min(self._deadline_s, _STOP_GRACE_S))


async def _finish(tasks: list[asyncio.Task[int]], *, grace: float) -> None:
    """Let deliveries in flight settle before the loop ends, for at most ``grace`` seconds
    (an attempt's deadline): one cancelled between its send and its record stays leased as
    pending though the receiver got it, and the next notifier on this database sends it
    again (the demo's deliveries 1-3 did)."""
    if not tasks:
        return
    _done, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
