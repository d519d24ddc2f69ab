"""Store service functions against real SQLite and PostgreSQL databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from breakglass import store
from breakglass.store import Checkpoint, PlanRevision

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "b" * 64
HASH_1 = "0x" + "1" * 64
HASH_2 = "0x" + "2" * 64


def _count(session: Session, model: type[PlanRevision] | type[Checkpoint]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_record_plan_revision_creates_a_row(session: Session) -> None:
    revision = store.record_plan_revision(
        session, protocol="Acme", path="breakglass.yaml", sha256=SHA_A, now=T0
    )
    session.commit()
    session.expunge_all()

    stored = session.get(PlanRevision, revision.id)
    assert stored is not None
    assert (stored.protocol, stored.path, stored.sha256) == ("Acme", "breakglass.yaml", SHA_A)
    assert stored.loaded_at == T0
    assert stored.loaded_at.tzinfo is UTC


def test_same_hash_as_latest_returns_the_existing_row(session: Session) -> None:
    first = store.record_plan_revision(session, protocol="Acme", path="p", sha256=SHA_A, now=T0)
    again = store.record_plan_revision(
        session, protocol="Acme", path="p", sha256=SHA_A, now=T0 + timedelta(hours=1)
    )
    assert again.id == first.id
    assert again.loaded_at == T0
    assert _count(session, PlanRevision) == 1


def test_only_the_latest_revision_counts(session: Session) -> None:
    a1 = store.record_plan_revision(session, protocol="Acme", path="p", sha256=SHA_A, now=T0)
    b = store.record_plan_revision(session, protocol="Acme", path="p", sha256=SHA_B, now=T0)
    a2 = store.record_plan_revision(session, protocol="Acme", path="p", sha256=SHA_A, now=T0)
    assert len({a1.id, b.id, a2.id}) == 3
    assert store.latest_plan_revision(session, protocol="Acme") == a2


def test_revisions_are_per_protocol(session: Session) -> None:
    acme = store.record_plan_revision(session, protocol="Acme", path="p", sha256=SHA_A, now=T0)
    other = store.record_plan_revision(session, protocol="Other", path="p", sha256=SHA_A, now=T0)
    assert acme.id != other.id
    assert store.latest_plan_revision(session, protocol="Nobody") is None


def test_naive_now_is_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        store.record_plan_revision(
            session, protocol="Acme", path="p", sha256=SHA_A, now=datetime(2025, 3, 1)
        )


def test_get_checkpoint_of_unknown_chain_is_none(session: Session) -> None:
    assert store.get_checkpoint(session, chain="mainnet") is None


def test_save_checkpoint_inserts_then_replaces(session: Session) -> None:
    store.save_checkpoint(session, chain="mainnet", block_number=1, block_hash=HASH_1, now=T0)
    session.commit()
    # Beyond 2**31: block numbers need BIGINT.
    later = T0 + timedelta(seconds=12)
    saved = store.save_checkpoint(
        session, chain="mainnet", block_number=2**40, block_hash=HASH_2, now=later
    )
    session.commit()
    assert (saved.block_number, saved.block_hash) == (2**40, HASH_2)

    session.expunge_all()
    stored = store.get_checkpoint(session, chain="mainnet")
    assert stored is not None
    assert (stored.block_number, stored.block_hash, stored.updated_at) == (2**40, HASH_2, later)
    assert _count(session, Checkpoint) == 1


def test_save_checkpoint_refreshes_a_loaded_object(session: Session) -> None:
    store.save_checkpoint(session, chain="mainnet", block_number=1, block_hash=HASH_1, now=T0)
    loaded = store.get_checkpoint(session, chain="mainnet")
    assert loaded is not None

    saved = store.save_checkpoint(
        session, chain="mainnet", block_number=2, block_hash=HASH_2, now=T0
    )
    assert saved is loaded
    assert loaded.block_number == 2


def test_checkpoint_times_come_back_in_utc(session: Session) -> None:
    berlin = datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    store.save_checkpoint(session, chain="mainnet", block_number=1, block_hash=HASH_1, now=berlin)
    session.commit()
    session.expunge_all()

    stored = store.get_checkpoint(session, chain="mainnet")
    assert stored is not None
    assert stored.updated_at == T0
    assert stored.updated_at.tzinfo is UTC


def test_checkpoints_are_per_chain(session: Session) -> None:
    store.save_checkpoint(session, chain="mainnet", block_number=1, block_hash=HASH_1, now=T0)
    store.save_checkpoint(session, chain="base", block_number=9, block_hash=HASH_2, now=T0)
    mainnet = store.get_checkpoint(session, chain="mainnet")
    assert mainnet is not None
    assert mainnet.block_number == 1
    assert _count(session, Checkpoint) == 2


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name, value in vars(store).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(store.__name__)
    }
    assert set(store.__all__) == public
