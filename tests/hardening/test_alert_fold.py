"""A flood kept up over many blocks (issue 14, finding 6): each rule stores at most 20 alerts
per block and 60 per minute of block time; past that, one alert per block carries the rest,
and the next minute starts a new budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from breakglass import store
from breakglass.detect.alerts import AlertBook, AlertPolicy, GroupBy, Grouping
from breakglass.detect.finding import Confidence, Finding, Severity

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def _flood(block: int, count: int, rule: str = "noise") -> list[Finding]:
    return [
        Finding(
            rule=rule,
            kind="large-outflow",
            chain="local",
            block_number=block,
            block_hash=f"0x{block:064x}",
            severity=Severity.HIGH,
            confidence=Confidence.MEDIUM,
            title=f"{rule} {block}/{n}",
            description="one wei out",
            tx_hash=f"0x{block * 1000 + n:064x}",
            log_index=0,
            addresses=("0x" + "77" * 20,),
        )
        for n in range(count)
    ]


def test_a_sustained_flood_is_folded_per_block_and_per_minute(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    book = AlertBook(AlertPolicy(rules={"noise": Grouping(timedelta(minutes=10), GroupBy.TX)}))
    stored: list[int] = []
    for block in range(1, 6):  # five blocks in the same minute, 30 findings each
        with sessions() as session, session.begin():
            before = len(store.list_alerts(session))
            findings = [*_flood(block, 30), *_flood(block, 1, rule="drain")]
            book.record(session, findings=findings, block_time=T0, now=T0)
            stored.append(len(store.list_alerts(session)) - before)
    # 20 + a carrier of 10 three times (60 a minute), then the carrier alone; the other rule
    # keeps its own budget.
    assert stored == [22, 22, 22, 2, 2]
    with sessions() as session, session.begin():
        book.record(session, findings=_flood(6, 30), block_time=T0 + timedelta(minutes=1), now=T0)
        rows = store.list_alerts(session)
    assert len(rows) == 70 + 21
    folded = [r for r in rows if "folded" in r.data]
    assert [r.data["folded"] for r in folded] == [10, 10, 10, 30, 30, 10]
    assert sum(r.data.get("folded", 1) for r in rows if r.rule == "noise") == 6 * 30
