"""The incident desk: what ``breakglass monitor`` does with alerts once they are stored.

Each new alert opens an incident or attaches to the one it correlates with; a new incident
tells the internal channels, pages the incident lead and engages the external parties whose
conditions hold; a later alert is told with its own severity. In the background the desk
links playbook runs to their incidents and brings their steps onto the timeline, moves an
incident to ``contained`` (and says so) once every contract its playbooks pause is verified
paused, and reminds people when a public update is due or a regulatory filing deadline
draws near. Notifications are queued in the database; the notifier's own loop delivers them.

The monitor tells the desk of an alert only after the alert is committed, so a crash in
between leaves the alert stored and unhandled. :meth:`IncidentDesk.run` therefore starts with
:meth:`IncidentDesk.sweep`, which hands every open alert that no incident holds to
:meth:`IncidentDesk.on_alert` (idempotent: an attached alert stays where it is), and pages
for every open incident that alerts opened and nobody was paged for. While it runs it sweeps
again every interval, for alerts a failed hand-over left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.incidents.alerts import incident_for_alert
from breakglass.incidents.comms import due_reminders, engage_external_parties
from breakglass.incidents.containment import AUTO_ACTOR, PauseTarget, contain_if_verified
from breakglass.incidents.lifecycle import FINAL
from breakglass.incidents.timeline import sync_timeline
from breakglass.notify import Notifier
from breakglass.plan.models import ExternalParty, Plan
from breakglass.report.regulatory import Deadline, clocks_for_incident, reminders_due
from breakglass.store.models import AlertRecord, Incident, IncidentAlert, Page

__all__ = ["IncidentDesk"]

_log = structlog.get_logger("breakglass.incidents")

_SETTLED = timedelta(seconds=30)
"""How long the running desk leaves a stored alert to the monitor's hand-over."""


class IncidentDesk:
    """Turns stored alerts into incidents and keeps their timelines and people current."""

    def __init__(
        self,
        plan: Plan,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.plan = plan
        self.sessions = sessions
        self.notifier = notifier
        self.clock = clock
        self._reminded: dict[int, datetime] = {}
        self._filing_reminded: dict[tuple[int, str, str], datetime] = {}
        # The monitor's hand-over and the sweep call on_alert from threads of their own.
        self._handling = threading.Lock()

    def sweep(self, *, settled_for: timedelta | None = None) -> list[int]:
        """Handle every open alert that no incident holds (left by a crash between an
        alert's commit and the desk, or by a hand-over that failed); returns the incidents
        they went to.

        Args:
            settled_for: only alerts first seen at least this long ago (the running
                monitor's hand-over has its turn first); ``None`` at start: every alert,
                and every incident alerts opened that was never paged.
        """
        query = (
            select(AlertRecord.dedupe_key)
            .outerjoin(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
            .where(IncidentAlert.id.is_(None), AlertRecord.status == "open")
            .order_by(AlertRecord.id)
        )
        if settled_for is not None:
            query = query.where(AlertRecord.first_seen < self.clock() - settled_for)
        with self.sessions() as session:
            keys = list(session.scalars(query))
        if keys:
            _log.warning("incidents.orphaned_alerts", alerts=len(keys))
        handled = [self.on_alert(key) for key in keys]
        if settled_for is None and "incident_lead" in self.plan.roles:
            with self._handling:
                self._page_unpaged()
        return [incident for incident in handled if incident is not None]

    def _page_unpaged(self) -> None:
        """Announce and page the open incidents that alerts opened but no page was queued
        for (a crash between the incident's commit and its page)."""
        with self.sessions() as session:
            paged = select(Page.incident_id).where(Page.incident_id.is_not(None))
            unpaged = session.scalars(
                select(Incident).where(
                    _open(),
                    Incident.id.in_(select(IncidentAlert.incident_id)),
                    Incident.id.not_in(paged),
                )
            ).all()
            found = [(i.id, i.title, _context(i, i.title, i.summary or "")) for i in unpaged]
        for incident_id, title, context in found:
            _log.warning("incidents.unpaged", incident=incident_id)
            try:
                self.notifier.notify("incident_opened", context, incident_id=incident_id)
                self.notifier.page("incident_lead", title, incident_id=incident_id)
            except BreakglassError as exc:  # one incident's trouble must not stop the sweep
                _log.error("incidents.page_failed", incident=incident_id, error=str(exc)[:300])

    def on_alert(self, dedupe_key: str) -> int | None:
        """Handle the stored alert ``dedupe_key``; returns its incident's id. An alert
        already in an incident is not told again.

        The incident is committed first; notifications are queued after, in their own
        transactions (SQLite has one writer at a time).
        """
        with self._handling:
            return self._on_alert(dedupe_key)

    def _on_alert(self, dedupe_key: str) -> int | None:
        engaged: list[tuple[str, ExternalParty]] = []
        with self.sessions() as session, session.begin():
            alert = session.scalars(
                select(AlertRecord).where(AlertRecord.dedupe_key == dedupe_key)
            ).first()
            if alert is None or alert.status == "retracted":
                return None
            handled = session.scalars(
                select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == alert.id)
            ).first()
            if handled is not None:
                # Told twice (the sweep and the monitor's hand-over): people hear of it once.
                return handled
            known = set(session.scalars(select(Incident.id).where(_open())))
            incident = incident_for_alert(session, self.plan, alert)
            opened = incident.id not in known and _first_alert(session, incident.id)
            if opened:
                engage_external_parties(
                    session,
                    self.plan,
                    incident,
                    notify=lambda name, party: engaged.append((name, party)),
                )
            context = _context(incident, alert.title, alert.description)
            alert_context = {**context, **_alert_fields(alert)}
            incident_id, title = incident.id, incident.title
        if opened:
            self.notifier.notify("incident_opened", context, incident_id=incident_id)
            if "incident_lead" in self.plan.roles:
                self.notifier.page("incident_lead", title, incident_id=incident_id)
            for name, party in engaged:
                if party.page is not None:
                    party_context = {**context, "party": name}
                    self.notifier.notify_url(
                        party.page, "external_engaged", party_context, label=name
                    )
        else:
            self.notifier.notify(
                "alert",
                alert_context,
                incident_id=incident_id,
                group_key=f"incident:{incident_id}",
            )
        _log.warning(
            "incidents.alert_handled", alert=dedupe_key, incident=incident_id, opened=opened
        )
        return incident_id

    def sync(self) -> None:
        """Link runs and bring steps onto the timelines of open incidents, contain those
        whose pauses are all verified; remind comms."""
        now = self.clock()
        filings: list[tuple[int, Deadline]] = []
        contained: list[dict[str, object]] = []
        with self.sessions() as session, session.begin():
            for incident in session.scalars(select(Incident).where(_open())).all():
                sync_timeline(session, incident.id)
                moved = contain_if_verified(session, self.plan, incident.id)
                if moved is not None:
                    contained.append(_contained_context(*moved))
                if self.plan.regulatory is not None and self.plan.regulatory.regimes:
                    clocks = clocks_for_incident(session, self.plan, incident.id, now)
                    filings += [(incident.id, d) for d in reminders_due(clocks, now=now)]
            reminders = due_reminders(session, self.plan, now)
        for context in contained:
            incident_id = context["incident_id"]
            assert isinstance(incident_id, int)
            _log.warning("incidents.contained", incident=incident_id, by=AUTO_ACTOR)
            self.notifier.notify("contained", context, incident_id=incident_id)
        self._remind_filings(filings, now)
        for reminder in reminders:
            last = self._reminded.get(reminder.incident_id)
            if last is not None and now - last < timedelta(minutes=10):
                continue
            self._reminded[reminder.incident_id] = now
            context = {
                "incident_id": reminder.incident_id,
                "title": reminder.title,
                "due_at": reminder.due_at,
                "role": reminder.role,
                "person": reminder.person,
            }
            self.notifier.notify("update_due", context, incident_id=reminder.incident_id)

    def _remind_filings(self, filings: list[tuple[int, Deadline]], now: datetime) -> None:
        """A regulatory deadline in its last quarter or overdue: remind the role that files
        (the duty's owner, else the incident lead), at most once an hour per deadline."""
        for incident_id, deadline in filings:
            key = (incident_id, deadline.regime, deadline.name)
            last = self._filing_reminded.get(key)
            if last is not None and now - last < timedelta(hours=1):
                continue
            self._filing_reminded[key] = now
            context = {
                "incident_id": incident_id,
                "title": f"{deadline.regime} {deadline.name} due {deadline.due:%Y-%m-%d %H:%M} UTC",
                "message": f"File the {deadline.name} report with {deadline.recipient}; "
                f"status {deadline.status}.",
                "due_at": deadline.due,
            }
            self.notifier.notify(
                "regulatory_due",
                context,
                incident_id=incident_id,
                group_key=f"regulatory:{incident_id}:{deadline.regime}:{deadline.name}",
            )

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """:meth:`sweep` once, then :meth:`sync` and a sweep of alerts older than
        ``_SETTLED`` every ``interval`` seconds until ``stop`` is set."""
        settled_for: timedelta | None = None
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep, settled_for=settled_for)
            except BreakglassError as exc:
                _log.error("incidents.sweep_failed", error=str(exc)[:300])
            settled_for = _SETTLED
            try:
                await asyncio.to_thread(self.sync)
            except BreakglassError as exc:
                _log.error("incidents.sync_failed", error=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _open() -> ColumnElement[bool]:
    return Incident.status.not_in([str(s) for s in FINAL])


def _first_alert(session: Session, incident_id: int) -> bool:
    links = session.scalars(select(IncidentAlert).where(IncidentAlert.incident_id == incident_id))
    return len(list(links)) <= 1


def _alert_fields(alert: AlertRecord) -> dict[str, object]:
    """What an ``alert`` message says of the alert itself: its own severity (critical …
    low), not the P1 … P5 of the incident it joined, which stays as ``incident_severity``."""
    return {
        "severity": alert.severity,
        "rule": alert.rule,
        "chain": alert.chain,
        "block_number": alert.block_number,
        "tx_hash": alert.tx_hash,
        "addresses": list(alert.addresses),
        "description": alert.description,
    }


def _contained_context(incident: Incident, targets: list[PauseTarget]) -> dict[str, object]:
    return {
        "incident_id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "status": incident.status,
        "chains": incident.chains,
        "contracts": incident.contracts,
        "contracts_paused": [t.contract for t in targets],
        "contained_at": incident.contained_at,
        "funds_at_risk_usd": incident.funds_at_risk_usd,
        "next_update_at": incident.next_update_at,
        "by": AUTO_ACTOR,
    }


def _context(incident: Incident, title: str, description: str) -> dict[str, object]:
    return {
        "incident_id": incident.id,
        "title": title,
        "summary": description,
        "severity": incident.severity,
        "incident_severity": incident.severity,
        "status": incident.status,
        "chains": incident.chains,
        "contracts": incident.contracts,
        "funds": "at_risk",
    }
