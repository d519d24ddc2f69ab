"""Concurrent public updates (finding 13 of the hardening issue): 32 publishers at once on
PostgreSQL must never leave the status page going backwards."""

from __future__ import annotations

import importlib.util
import random
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from breakglass import store
from breakglass.incidents import IncidentError, open_incident, public_updates, publish_update
from breakglass.incidents.lifecycle import UpdateStatus
from breakglass.plan.models import Plan

_spec = importlib.util.spec_from_file_location(
    "store_fixtures_update_race", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url

PLAN = Plan.model_validate(
    {
        "protocol": "Acme",
        "people": {"dave": {"name": "Dave"}},
        "roles": {"comms": ["dave"]},
        "chains": {"local": {"chain_id": 31337, "rpc": ["http://127.0.0.1:8545"]}},
        "contracts": {"pool": {"chain": "local", "address": "0x" + "aa" * 20}},
    }
)
ORDER = list(UpdateStatus)
PUBLISHERS = 32


@pytest.mark.postgres
@pytest.mark.parametrize("stamped", [False, True], ids=["now", "given-times"])
def test_concurrent_updates_never_go_backwards(postgres_url: str, stamped: bool) -> None:
    store.upgrade(postgres_url)
    engine = store.make_engine(postgres_url)
    sessions = store.session_factory(engine)
    try:
        with sessions.begin() as session:
            incident_id = open_incident(
                session,
                PLAN,
                title="drain",
                kind="exploit",
                severity="P1",
                chains=["local"],
                contracts=["pool"],
                detected_at=datetime(2026, 3, 1, tzinfo=UTC),
            ).id
        start = threading.Barrier(PUBLISHERS)
        refused: list[str] = []
        stamp = datetime(2026, 3, 1, 12, tzinfo=UTC)

        def publish(n: int) -> None:
            status = random.Random(n).choice(ORDER)
            start.wait()
            try:
                with sessions.begin() as session:
                    publish_update(
                        session,
                        incident_id,
                        str(status),
                        f"update {n}",
                        "body",
                        actor="dave",
                        at=stamp + timedelta(seconds=random.Random(-n).randint(0, 5))
                        if stamped
                        else None,
                    )
            except IncidentError as exc:
                refused.append(str(exc))

        threads = [threading.Thread(target=publish, args=(n,)) for n in range(PUBLISHERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        with sessions() as session:
            stored = [ORDER.index(UpdateStatus(u.status)) for u in public_updates(session)]
        assert len(stored) + len(refused) == PUBLISHERS
        assert stored == sorted(stored), f"statuses went backwards: {stored}"
        assert all("forward only" in text for text in refused)
    finally:
        with sessions.begin() as cleanup:
            for table in reversed(store.Base.metadata.sorted_tables):
                cleanup.execute(delete(table))
        engine.dispose()
