"""Incident fixtures: the store tests' databases (SQLite and PostgreSQL), a plan, alerts."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from breakglass.plan.models import Plan
from breakglass.store.alerts import NewAlert, open_incident_candidate, record_alert
from breakglass.store.models import AlertRecord

# The store tests own the database fixtures; reuse them rather than copy them.
_spec = importlib.util.spec_from_file_location(
    "store_fixtures_incidents", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url
database_url = _fixtures.database_url
session = _fixtures.session

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POOL = "0x" + "aa" * 20
ATTACKER = "0x" + "ee" * 20

PLAN: dict[str, Any] = {
    "protocol": "Acme",
    "people": {p: {"name": p.title()} for p in ("alice", "bob", "carol", "dave", "erin")},
    "roles": {
        "incident_lead": ["alice", "bob"],
        "scribe": ["erin"],
        "comms": ["dave", "erin"],
        "pauser": {"members": ["carol"], "handles": ["pause"]},
        "empty": [],
    },
    "chains": {"local": {"chain_id": 31337, "rpc": ["http://127.0.0.1:8545"]}},
    "contracts": {"pool": {"chain": "local", "address": POOL}},
    "rules": [{"id": "drain", "rule": "large-outflow", "contracts": ["pool"]}],
    "communication": {"update_cadence": "30m", "spokesperson": "comms"},
    "external_parties": {
        "seal911": {
            "kind": "seal-911",
            "engage_if": "severity <= 1 and funds_at_risk_usd > 1000000",
            "owner": "incident_lead",
            "how": "open a SEAL 911 chat",
        },
        "users": {"kind": "affected-users", "engage_if": "severity <= 2", "owner": "comms"},
        "auditor": {"kind": "auditor", "engage_when": "by hand", "owner": "incident_lead"},
        "broken": {"kind": "other", "engage_if": "no_such_variable > 1"},
    },
}


@pytest.fixture
def plan() -> Plan:
    return Plan.model_validate(PLAN)


def _store_alert(
    session: Session,
    n: int,
    *,
    severity: str = "critical",
    candidate: int | None = None,
    chain: str = "local",
    at: datetime = T0,
    tx_hash: str | None = None,
) -> AlertRecord:
    """Record alert ``n`` through the store service, optionally in a candidate."""
    alert, _ = record_alert(
        session,
        alert=NewAlert(
            dedupe_key=f"drain:{chain}:{n}",
            group_key=f"drain:{n}",
            rule="drain",
            kind="large-outflow",
            chain=chain,
            block_number=100 + n,
            block_hash="0x" + f"{100 + n:064x}",
            block_time=at,
            severity=severity,
            confidence="high",
            title=f"pool drained ({n})",
            description="outflow above the limit",
            tx_hash=tx_hash or "0x" + f"{n:064x}",
            addresses=(POOL, ATTACKER),
        ),
        suppress_for=timedelta(minutes=10),
        now=at + timedelta(seconds=12),
    )
    if candidate is not None:
        alert.incident_candidate_id = candidate
        session.flush()
    return alert


def _candidate(session: Session, key: str = "c") -> int:
    return open_incident_candidate(session, chain="local", key=key, now=T0).id


@pytest.fixture
def store_alert() -> Any:
    """``store_alert(session, n, severity=..., candidate=..., ...)`` records alert ``n``."""
    return _store_alert


@pytest.fixture
def new_candidate() -> Any:
    """``new_candidate(session, key)`` opens an incident candidate; returns its id."""
    return _candidate
