"""Review of event ids across a reorg: an alert retracted and raised again is told again.

An alert's dedupe key names its transaction, not its block, so when a reorg orphans the
block and the same transaction lands in another one, ``record_alert`` reopens the same row
as a new alert. Its ``AlertRaised`` had the id of the first one (``alert-raised:<key>``),
which the outbox refused as a replay: if the desk had heard of the retraction first, the
exploit back on the canonical chain opened no incident and paged nobody.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.alerts import AlertBook
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.events import InProcessBus, OutboxRelay
from breakglass.incidents.desk import IncidentDesk
from breakglass.plan.models import Plan
from breakglass.store.models import AlertRecord, Incident, IncidentAlert

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POOL = "0x" + "aa" * 20
TX = "0x" + "ab" * 32

PLAN = Plan.model_validate(
    {
        "protocol": "Acme",
        "people": {"alice": {"name": "Alice"}},
        "roles": {"incident_lead": ["alice"]},
        "chains": {"local": {"chain_id": 31337, "rpc": ["http://127.0.0.1:9"]}},
        "contracts": {"pool": {"chain": "local", "address": POOL}},
        "rules": [
            {"id": "drain", "rule": "large-outflow", "contracts": ["pool"], "severity": "critical"}
        ],
    }
)


def _drain(block: int, block_hash: str) -> Finding:
    return Finding(
        rule="drain",
        kind="large-outflow",
        chain="local",
        block_number=block,
        block_hash=block_hash,
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        title="1,500 aUSD left pool",
        description="a drain",
        tx_hash=TX,
        log_index=0,
        addresses=(POOL,),
    )


def test_an_exploit_reorged_into_another_block_opens_its_incident(
    sessions: sessionmaker[Session],
) -> None:
    book = AlertBook()
    bus = InProcessBus()
    IncidentDesk(PLAN, sessions).subscribe(bus)
    relay = OutboxRelay(sessions, bus)
    first, second = "0x" + "01" * 32, "0x" + "02" * 32

    with sessions() as session, session.begin():  # block 7 holds the exploit
        book.record(session, findings=[_drain(7, first)], block_time=T0, now=T0)
    with sessions() as session, session.begin():  # a reorg orphans it
        book.retract(session, chain="local", block_hash=first)
    asyncio.run(relay.drain())  # the desk hears both: the alert is gone, nothing to open
    with sessions() as session:
        assert session.scalars(select(Incident)).all() == []

    with sessions() as session, session.begin():  # the same transaction lands in block 8
        (again,) = book.record(session, findings=[_drain(8, second)], block_time=T0, now=T0)
    asyncio.run(relay.drain())

    with sessions() as session:
        row = session.get(AlertRecord, again.id)
        assert row is not None and row.status == "open" and row.block_hash == second
        linked = session.scalars(
            select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == again.id)
        ).all()
    assert linked, "the exploit is back on the canonical chain and no incident was opened"
