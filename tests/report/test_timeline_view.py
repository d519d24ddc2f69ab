"""The timeline for people: a step's phases and its transaction collapse into one row with
the phases as detail, explorer links, no Python reprs, roles folded into the opening row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breakglass.report.timeline_view import people_timeline, short_hash, span_text

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAUSE_TX = "0x" + "39" * 32
EXPLOIT_TX = "0x" + "2d" * 32


@dataclass
class Event:
    """A stored timeline row's fields, as the desk writes them."""

    id: int
    at: datetime
    kind: str
    summary: str
    actor: str | None = "breakglass"
    tx_hash: str | None = None
    block_number: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _phase(n: int, ms: int, phase: str, detail: dict[str, Any], step: int = 1) -> Event:
    action, name = (
        ("pause", "pause pool as guardian") if step == 1 else ("page", "page incident_lead")
    )
    note = ", ".join(f"{k}={v}" for k, v in detail.items() if k != "tx_hash")
    return Event(
        id=n,
        at=T0 + timedelta(milliseconds=ms),
        kind="action",
        summary=f"{name}: {phase}" + (f" ({note})" if note else ""),
        tx_hash=detail.get("tx_hash"),
        data={"run_id": 1, "step_id": step, "action": action, "phase": phase, "detail": detail},
    )


def _demo_events() -> list[Event]:
    return [
        Event(1, T0, "alert", "[critical] 110,000 dUSD left pool to 0x663f…6602",
              actor="rule:pool-drain", tx_hash=EXPLOIT_TX, block_number=55,
              data={"source": "alert:1", "chain": "mainnet"}),
        _phase(2, 900, "start", {"status": "running"}),
        _phase(3, 901, "simulate", {"ok": True}),
        _phase(4, 903, "broadcast", {"tx_hash": PAUSE_TX, "status": "sent"}),
        Event(5, T0 + timedelta(milliseconds=903), "tx", "transaction of pause pool as guardian",
              tx_hash=PAUSE_TX, block_number=56, data={"run_id": 1, "step_id": 1}),
        Event(6, T0 + timedelta(milliseconds=904), "status",
              "incident opened: P1 large-outflow: 110,000 dUSD left pool",
              data={"to": "detected"}),
        Event(7, T0 + timedelta(milliseconds=904), "note", "roles: incident_lead alice",
              data={"roles": {"incident_lead": "alice", "pauser": "bob"}}),
        _phase(8, 2103, "receipt", {"tx_hash": PAUSE_TX, "block": 56}),
        _phase(9, 2105, "verify", {"check": "paused()", "holds": True}),
        Event(10, T0 + timedelta(milliseconds=2105), "status", "detected → contained",
              data={"from": "detected", "to": "contained", "note": "verified paused: pool"}),
        _phase(11, 2106, "done", {"status": "done", "note": ""}),
        _phase(12, 2200, "start", {"status": "running"}, step=2),
        _phase(13, 2210, "page", {"role": "incident_lead", "people": ["alice", "bob"]}, step=2),
        _phase(14, 2211, "done", {"status": "done", "note": "paged"}, step=2),
        Event(15, T0 + timedelta(seconds=3), "task", "task #1 (corrective): fix the oracle"),
    ]  # fmt: skip


def test_a_pause_is_one_row_with_its_transaction_block_and_verification() -> None:
    rows = people_timeline(
        _demo_events(), chain="mainnet", explorers={"mainnet": "https://etherscan.io/"}
    )
    texts = [r.text for r in rows]
    assert texts == [
        "critical alert: 110,000 dUSD left pool to 0x663f…6602",
        "guardian paused pool — tx 0x3939…3939 in block 56, verified 1.2 s later",
        "incident opened (P1)",
        "incident contained (verified paused: pool)",
        "breakglass paged incident lead (alice, bob)",
    ]
    pause = rows[1]
    assert pause.block == 56
    assert pause.tx_url == f"https://etherscan.io/tx/{PAUSE_TX}"
    assert rows[0].tx_url == f"https://etherscan.io/tx/{EXPLOIT_TX}"
    assert len(pause.details) == 7  # six phases and the transaction, on demand
    assert any("simulate: ok" in d for d in pause.details)
    assert rows[2].details == ("roles: incident lead alice, pauser bob",)


def test_no_python_reprs_reach_a_row() -> None:
    rows = people_timeline(_demo_events(), include_tasks=True)
    every = [r.text for r in rows] + [d for r in rows for d in r.details]
    for text in every:
        assert "True" not in text and "None" not in text and "['" not in text, text
    assert rows[-1].text.startswith("task #1")


def test_a_failed_step_says_so() -> None:
    events = [
        _phase(1, 0, "start", {"status": "running"}),
        _phase(2, 5, "failed", {"status": "failed", "note": "simulation reverted: not pauser"}),
    ]
    (row,) = people_timeline(events)
    assert row.kind == "action-failed"
    assert row.text == "pause pool as guardian: step — failed: simulation reverted: not pauser"
    assert row.tx_url is None


def test_without_an_explorer_there_is_no_link() -> None:
    rows = people_timeline(_demo_events(), chain="mainnet")
    assert all(r.tx_url is None for r in rows)
    assert rows[1].to_dict()["tx_hash"] == PAUSE_TX


def test_short_forms() -> None:
    assert short_hash(PAUSE_TX) == "0x3939…3939"
    assert span_text(0.154) == "0.2 s"
    assert span_text(75) == "1 min 15 s"
    assert span_text(7500) == "2 h 05 min"
