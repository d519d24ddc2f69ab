"""A person's status change is announced as the desk's is: ``incident transition 1
contained --as bob`` (the CLI, as a user runs it) emits ``IncidentChanged`` with the change,
and the notifier's consumer queues one "contained" message; the desk's sync afterwards and a
second delivery of the events add none."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from breakglass import store
from breakglass.events import InProcessBus, OutboxRelay
from breakglass.incidents import open_incident
from breakglass.incidents.desk import IncidentDesk
from breakglass.notify import Notifier
from breakglass.notify.consumers import NotificationConsumer
from breakglass.plan import load_plan
from breakglass.store.models import Delivery, OutboxRecord

PLAN = """
protocol: Acme Lending
people: {alice: {name: Alice}, bob: {name: Bob}}
roles: {incident_lead: [alice], comms: [bob]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
channels:
  war-room: "json://127.0.0.1:9/hook"
"""


def test_a_persons_containment_is_announced_once(tmp_path: Path) -> None:
    path = tmp_path / "breakglass.yaml"
    path.write_text(PLAN)
    plan = load_plan(path).plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        incident = open_incident(
            session, plan, title="pool drained", kind="exploit", severity="P1",
            chains=["mainnet"], contracts=[], detected_at=datetime(2026, 3, 1, tzinfo=UTC),
        )  # fmt: skip
        incident_id = incident.id
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {"BREAKGLASS_DATABASE_URL": url, "BREAKGLASS_PLAN": str(path), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "breakglass", "incident", "transition", str(incident_id),
         "contained", "--as", "bob", "--note", "pool paused by hand"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    bus = InProcessBus()
    desk = IncidentDesk(plan, sessions)
    desk.subscribe(bus)
    NotificationConsumer(plan, sessions, Notifier(plan, sessions)).subscribe(bus)
    relay = OutboxRelay(sessions, bus)
    asyncio.run(relay.drain())
    desk.sync()
    asyncio.run(relay.drain())

    with sessions() as session:
        changes = [
            r.payload
            for r in session.scalars(
                select(OutboxRecord).where(OutboxRecord.kind == "incident.changed")
            )
        ]
        sent = list(session.scalars(select(Delivery).where(Delivery.event == "contained")))
    assert [(c["change"], c["before"], c["after"], c["actor"]) for c in changes] == [
        ("status", "detected", "contained", "bob")
    ]
    assert len(sent) == 1 and sent[0].channel == "war-room"
    assert f"Incident #{incident_id} contained" in sent[0].title
