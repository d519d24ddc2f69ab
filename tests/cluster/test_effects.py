"""Side effects claimed once on PostgreSQL, from concurrent replicas, with fencing."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.cluster.effects import claim_effect, finish_effect
from breakglass.store.models import SideEffect

_spec = importlib.util.spec_from_file_location(
    "store_fixtures_cluster", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url


@pytest.fixture
def sessions(postgres_url: str) -> sessionmaker[Session]:
    store.upgrade(postgres_url)
    engine = store.make_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM side_effects")
    return store.session_factory(engine)


def test_of_many_replicas_racing_for_one_effect_exactly_one_wins(
    sessions: sessionmaker[Session],
) -> None:
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def replica(name: str) -> None:
        with sessions() as session, session.begin():
            barrier.wait()
            if claim_effect(
                session,
                key="pause:local:pool:alert-1",
                kind="pause",
                lease="signer.guardian",
                token=5,
                holder=name,
            ):
                wins.append(name)

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    with sessions() as session:
        rows = session.scalars(select(SideEffect)).all()
    assert [(row.key, row.holder) for row in rows] == [("pause:local:pool:alert-1", wins[0])]


def test_a_holder_with_an_older_fencing_token_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        assert claim_effect(
            session, key="pause:a", kind="pause", lease="signer.guardian", token=9, holder="new"
        )
        finish_effect(session, key="pause:a", result={"tx": "0xabc"})
    with sessions() as session, session.begin():
        # the old holder wakes up from a pause and tries a new effect with its old token
        assert not claim_effect(
            session, key="pause:b", kind="pause", lease="signer.guardian", token=7, holder="old"
        )
        assert claim_effect(
            session, key="page:b", kind="page", lease="signer.other", token=1, holder="old"
        )
    with sessions() as session:
        done = session.scalars(select(SideEffect).where(SideEffect.key == "pause:a")).one()
    assert done.result == {"tx": "0xabc"} and done.done_at is not None
