"""Alerts from findings: dedupe, suppression, correlation into candidates, retraction.

Runs on SQLite and PostgreSQL with the store tests' database fixtures.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from breakglass import store
from breakglass.detect import Confidence, Finding, Severity
from breakglass.detect.alerts import AlertBook, AlertPolicy, GroupBy, Grouping
from breakglass.detect.correlate import Stage, confidence_of, stage_of

# The store tests own the database fixtures; reuse them rather than copy them.
_spec = importlib.util.spec_from_file_location(
    "store_fixtures", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url
database_url = _fixtures.database_url
session = _fixtures.session

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
POOL = "0x" + "aa" * 20
OTHER_POOL = "0x" + "bb" * 20
ATTACKER = "0x" + "ee" * 20
MIXER = "0x" + "cc" * 20


def block(n: int) -> str:
    return "0x" + f"{n:064x}"


def tx(n: int) -> str:
    return "0x" + f"{n:064x}".replace("0", "f", 1)


def finding(
    n: int,
    *,
    rule: str = "drain",
    kind: str = "large-outflow",
    addresses: tuple[str, ...] = (POOL, ATTACKER),
    block_number: int = 10,
    log_index: int | None = 0,
) -> Finding:
    return Finding(
        rule=rule,
        kind=kind,
        chain="local",
        block_number=block_number,
        block_hash=block(block_number),
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        title=f"{rule} #{n}",
        description="d",
        tx_hash=tx(n),
        log_index=log_index,
        addresses=addresses,
        data={"amount": 10**30, "raw": b"\x01\x02"},
    )


def test_the_same_finding_is_one_alert_however_often_seen(session: Session) -> None:
    book = AlertBook()
    first = book.record(session, findings=[finding(1)], block_time=T0, now=NOW)
    later = NOW + timedelta(minutes=1)
    again = book.record(session, findings=[finding(1)], block_time=T0, now=later)
    assert [a.finding.title for a in first] == ["drain #1"]
    assert again == []
    (row,) = store.list_alerts(session)
    assert (row.count, row.first_seen, row.last_seen) == (2, NOW, later)
    assert row.data == {"amount": 10**30, "raw": "0x0102"}
    assert first[0].status == "open" and first[0].finding.severity is Severity.CRITICAL


def test_one_page_per_rule_and_contract_within_the_window(session: Session) -> None:
    book = AlertBook()
    pages = book.record(
        session, findings=[finding(n) for n in range(1, 1001)], block_time=T0, now=NOW
    )
    assert len(pages) == 1
    rows = store.list_alerts(session)
    statuses = [row.status for row in rows]
    # A flood is folded: 20 alerts of the rule in the block, and one carrying the other 980.
    assert statuses.count("open") == 1 and statuses.count("suppressed") == 20
    assert rows[-1].data["folded"] == 980 and "and 979 more" in rows[-1].title
    # Another contract is another page; so is the same one after the window.
    other = book.record(
        session, findings=[finding(2000, addresses=(OTHER_POOL,))], block_time=T0, now=NOW
    )
    late = book.record(
        session, findings=[finding(3000)], block_time=T0 + timedelta(minutes=11), now=NOW
    )
    assert len(other) == 1 and len(late) == 1


def test_grouping_by_transaction_and_per_rule_windows(session: Session) -> None:
    policy = AlertPolicy(rules={"drain": Grouping(timedelta(minutes=1), GroupBy.TX)})
    book = AlertBook(policy)
    same_tx = [finding(1, log_index=0), finding(1, log_index=1), finding(2)]
    assert [
        a.finding.title for a in book.record(session, findings=same_tx, block_time=T0, now=NOW)
    ] == [
        "drain #1",
        "drain #2",
    ]


def test_stages_and_confidence() -> None:
    assert stage_of("role-granted") is Stage.PREPARATION
    assert stage_of("some-plugin", "laundering") is Stage.LAUNDERING
    assert stage_of("paused", "access") is None
    assert confidence_of([]) < confidence_of([Stage.EXPLOITATION]) < confidence_of(list(Stage))
    assert confidence_of([Stage.FUNDING, Stage.FUNDING]) == confidence_of([Stage.FUNDING])


def test_findings_sharing_addresses_correlate_into_one_candidate(session: Session) -> None:
    book = AlertBook()
    attack = [
        finding(1, rule="grant", kind="role-granted", addresses=(POOL, ATTACKER)),
        finding(2, rule="drain", kind="large-outflow", addresses=(POOL, ATTACKER)),
        finding(3, rule="launder", kind="mixer-deposit", addresses=(ATTACKER, MIXER)),
    ]
    unrelated = finding(4, rule="ops", kind="paused", addresses=(OTHER_POOL,))
    book.record(session, findings=[*attack, unrelated], block_time=T0, now=NOW)
    first, second = store.list_incident_candidates(session)
    assert first.stages == ["preparation", "exploitation", "laundering"]
    assert first.confidence == confidence_of(first.stages)
    assert second.stages == [] and second.confidence < first.confidence
    rows = store.list_alerts(session)
    assert {r.incident_candidate_id for r in rows[:3]} == {first.id}
    # Outside the window the same attacker starts a new candidate.
    book.record(
        session,
        findings=[finding(5, addresses=(ATTACKER,))],
        block_time=T0 + timedelta(hours=2),
        now=NOW,
    )
    assert len(store.list_incident_candidates(session)) == 3


def test_an_alert_linking_two_candidates_merges_them(session: Session) -> None:
    book = AlertBook()
    book.record(
        session,
        findings=[
            finding(1, rule="a", kind="role-granted", addresses=(POOL,)),
            finding(2, rule="b", kind="large-outflow", addresses=(OTHER_POOL,)),
        ],
        block_time=T0,
        now=NOW,
    )
    assert len(store.list_incident_candidates(session)) == 2
    book.record(
        session,
        findings=[finding(3, rule="c", kind="bridge-out", addresses=(POOL, OTHER_POOL))],
        block_time=T0,
        now=NOW,
    )
    (merged,) = store.list_incident_candidates(session)
    assert merged.stages == ["preparation", "exploitation", "laundering"]


def test_orphaned_blocks_retract_their_alerts_and_weaken_the_candidate(session: Session) -> None:
    book = AlertBook()
    book.record(
        session,
        findings=[finding(1, rule="grant", kind="role-granted", block_number=10)],
        block_time=T0,
        now=NOW,
    )
    book.record(session, findings=[finding(2, block_number=11)], block_time=T0, now=NOW)
    (candidate,) = store.list_incident_candidates(session)
    assert len(candidate.stages) == 2

    retracted = book.retract(session, chain="local", block_hash=block(11))
    assert [a.finding.title for a in retracted] == ["drain #2"]
    assert [r.status for r in store.list_alerts(session)] == ["open", "retracted"]
    assert candidate.stages == ["preparation"]
    assert book.retract(session, chain="local", block_hash=block(11)) == []

    # The reorg put the same transaction in another block: the alert comes back there.
    back = book.record(session, findings=[finding(2, block_number=12)], block_time=T0, now=NOW)
    assert [(a.finding.block_number, a.status) for a in back] == [(12, "open")]
    assert len(store.list_alerts(session)) == 2
    assert candidate.stages == ["preparation", "exploitation"]
