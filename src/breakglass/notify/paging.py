"""Paging a role: its members in escalation order until one acknowledges.

A page rings its current member through their ``page`` Apprise URL. When nobody has
acknowledged after the role's ``escalate_after``, :meth:`Paging.escalate_due` rings the next
member. When every member was tried the page becomes ``exhausted``: an error is logged, the
internal channels hear of it, and the page stays open for an acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.notify.errors import NotifyError
from breakglass.notify.queue import enqueue, record_failure
from breakglass.notify.render import render
from breakglass.plan.models.plan import Plan
from breakglass.store.models import Page

__all__ = ["PageStatus", "Paging"]

_log = structlog.get_logger("breakglass.notify")


class PageStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"


class Paging:
    """The paging half of :class:`~breakglass.notify.Notifier`."""

    _plan: Plan
    _sessions: sessionmaker[Session]
    _clock: Callable[[], datetime]

    def channels_for(self, event: str) -> list[str]:
        raise NotImplementedError

    def _context(self, context: Mapping[str, Any], incident_id: int | None) -> dict[str, Any]:
        raise NotImplementedError

    def page(
        self,
        role: str,
        message: str,
        *,
        incident_id: int | None = None,
        session: Session | None = None,
    ) -> int:
        """Page ``role``: its first member now, the next ones as :meth:`escalate_due` finds
        no acknowledgement. Returns the page id. With ``session`` the page joins the
        caller's transaction.

        Raises:
            NotifyError: the role is not in the plan or has no members.
        """
        spec = self._plan.roles.get(role)
        if spec is None:
            raise NotifyError(f"no role {role} in the plan")
        if not spec.members:
            raise NotifyError(f"role {role} has no members to page")
        now = self._clock()
        with nullcontext(session) if session is not None else self._sessions.begin() as tx:
            page = Page(
                incident_id=incident_id,
                role=role,
                people=list(spec.members),
                position=0,
                message=message,
                escalate_after_s=spec.escalate_after.total_seconds(),
                status=PageStatus.OPEN,
                paged_at=now,
            )
            tx.add(page)
            tx.flush()
            self._ring(tx, page, now)
            page_id = page.id
        return page_id

    def _ring(self, session: Session, page: Page, now: datetime) -> None:
        """Queue the page for its current member, skipping (loudly) those without a URL."""
        while page.position < len(page.people):
            name = page.people[page.position]
            person = self._plan.people.get(name)
            nxt = page.people[page.position + 1] if page.position + 1 < len(page.people) else None
            context = self._context(
                {
                    "role": page.role,
                    "message": page.message,
                    "person": name,
                    "person_name": person.name if person else name,
                    "page_id": page.id,
                    "escalate_after": timedelta(seconds=page.escalate_after_s),
                    "next_person": nxt,
                },
                page.incident_id,
            )
            msg = render("page", context, now=now)
            channel = f"page:{name}"
            if person is not None and person.page is not None:
                enqueue(
                    session, channel, msg, {"person": name}, now=now, incident_id=page.incident_id
                )
                page.paged_at = now
                _log.warning("notify.paged", page=page.id, role=page.role, person=name)
                return
            record_failure(
                session,
                channel,
                msg,
                {"person": name},
                f"{name} has no page URL in the plan",
                now=now,
                incident_id=page.incident_id,
            )
            _log.error("notify.page_unreachable", page=page.id, role=page.role, person=name)
            page.position += 1
        page.status = PageStatus.EXHAUSTED
        page.paged_at = now
        _log.error(
            "notify.page_exhausted",
            page=page.id,
            role=page.role,
            people=page.people,
            hint="nobody acknowledged; the page stays open",
        )
        exhausted = render(
            "page_exhausted",
            self._context(
                {
                    "page_id": page.id,
                    "role": page.role,
                    "people": page.people,
                    "message": page.message,
                },
                page.incident_id,
            ),
            now=now,
        )
        for name in self.channels_for("page_exhausted"):
            enqueue(
                session, name, exhausted, {"channel": name}, now=now, incident_id=page.incident_id
            )

    def acknowledge(self, page_id: int, person: str) -> None:
        """``person`` takes the page: escalation stops.

        Raises:
            NotifyError: no such page, the person is not in the plan, or someone else
                already acknowledged it.
        """
        if person not in self._plan.people:
            raise NotifyError(f"no person {person} in the plan")
        now = self._clock()
        with self._sessions.begin() as session:
            page = session.get(Page, page_id)
            if page is None:
                raise NotifyError(f"no page {page_id}")
            if page.status == PageStatus.ACKNOWLEDGED:
                if page.acknowledged_by == person:
                    return
                raise NotifyError(f"page {page_id} was acknowledged by {page.acknowledged_by}")
            page.status = PageStatus.ACKNOWLEDGED
            page.acknowledged_by, page.acknowledged_at = person, now
        _log.info("notify.page_acknowledged", page=page_id, person=person)

    async def escalate_due(self) -> list[int]:
        """Ring the next member of every open page whose current one did not acknowledge
        in time; returns the ids of the pages that moved on (or were exhausted). The
        database work runs in a worker thread: the monitor's event loop also carries the
        reaction path."""
        return await asyncio.to_thread(self._escalate_due)

    def _escalate_due(self) -> list[int]:
        now = self._clock()
        moved: list[int] = []
        with self._sessions.begin() as session:
            pages = session.scalars(
                select(Page).where(Page.status == PageStatus.OPEN).order_by(Page.id)
            ).all()
            for page in pages:
                if page.paged_at + timedelta(seconds=page.escalate_after_s) > now:
                    continue
                page.position += 1
                self._ring(session, page, now)
                moved.append(page.id)
        return moved
