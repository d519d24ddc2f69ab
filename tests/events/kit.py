"""An ``AlertRaised`` event to test the outbox, the relay and consumers with."""

from __future__ import annotations

from datetime import UTC, datetime

from breakglass.events import AlertRaised

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def alert_raised(n: int) -> AlertRaised:
    """The ``n``-th drain alert of a test: its own key, block and title."""
    key = f"large-outflow:local:0x{n:064x}:0"
    return AlertRaised(
        event_id=AlertRaised.key(key),
        occurred_at=T0,
        alert_id=n,
        dedupe_key=key,
        rule="large-outflow",
        chain="local",
        block_number=100 + n,
        block_hash=f"0x{n:064x}",
        severity="critical",
        title=f"drain {n}",
    )
