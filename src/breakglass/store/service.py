"""Store operations: plain functions, session first, keyword-only arguments.

They flush but never commit: the caller owns the transaction, so several operations can land
together or not at all. ``now`` is passed in, so no function reads a clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Insert, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from breakglass.errors import StoreError
from breakglass.store.models import CanonicalBlock, Checkpoint, PlanRevision

__all__ = ["get_checkpoint", "latest_plan_revision", "record_plan_revision", "save_checkpoint"]


def latest_plan_revision(session: Session, *, protocol: str) -> PlanRevision | None:
    """The plan revision of ``protocol`` loaded most recently, if any."""
    statement = (
        select(PlanRevision)
        .where(PlanRevision.protocol == protocol)
        .order_by(PlanRevision.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def record_plan_revision(
    session: Session, *, protocol: str, path: str, sha256: str, now: datetime
) -> PlanRevision:
    """Record that a plan was loaded, unless it is the revision already in force.

    Returns:
        The new revision, or the latest one if it already has ``sha256``.
    """
    latest = latest_plan_revision(session, protocol=protocol)
    if latest is not None and latest.sha256 == sha256:
        return latest
    revision = PlanRevision(protocol=protocol, path=path, sha256=sha256, loaded_at=now)
    session.add(revision)
    session.flush()
    return revision


def get_checkpoint(session: Session, *, chain: str) -> Checkpoint | None:
    """The last acknowledged block of ``chain``, if any."""
    return session.get(Checkpoint, chain)


def save_checkpoint(
    session: Session,
    *,
    chain: str,
    block_number: int,
    block_hash: str,
    now: datetime,
    chain_id: int | None = None,
    genesis_hash: str | None = None,
) -> Checkpoint:
    """Insert or replace the checkpoint of ``chain`` in one atomic statement.

    Args:
        chain_id: with ``genesis_hash``, the chain the block belongs to; when omitted, an
            identity the row already holds is kept.

    Raises:
        StoreError: the database is neither SQLite nor PostgreSQL.
    """
    dialect = session.get_bind().dialect.name
    values: dict[str, object] = {
        "block_number": block_number,
        "block_hash": block_hash,
        "updated_at": now,
    }
    if chain_id is not None:
        values["chain_id"] = chain_id
    if genesis_hash is not None:
        values["genesis_hash"] = genesis_hash
    # Both dialects spell the upsert the same way, but as different classes.
    upsert: Insert
    if dialect == "postgresql":
        pg_insert = postgresql.insert(Checkpoint).values(chain=chain, **values)
        upsert = pg_insert.on_conflict_do_update(index_elements=["chain"], set_=values)
    elif dialect == "sqlite":
        lite_insert = sqlite.insert(Checkpoint).values(chain=chain, **values)
        upsert = lite_insert.on_conflict_do_update(index_elements=["chain"], set_=values)
    else:
        raise StoreError(f"checkpoints need SQLite or PostgreSQL, not {dialect}")
    # populate_existing refreshes a Checkpoint this session already holds for the chain.
    return session.scalars(
        upsert.returning(Checkpoint), execution_options={"populate_existing": True}
    ).one()


def canonical_blocks(session: Session, *, chain: str) -> list[CanonicalBlock]:
    """The delivered recent chain of ``chain``, oldest first."""
    query = select(CanonicalBlock).where(CanonicalBlock.chain == chain)
    return list(session.scalars(query.order_by(CanonicalBlock.number)))


def add_canonical_block(
    session: Session,
    *,
    chain: str,
    number: int,
    block_hash: str,
    parent_hash: str,
    timestamp: int,
    keep: int,
    now: datetime,
    chain_id: int | None = None,
    genesis_hash: str | None = None,
) -> None:
    """Record a delivered block, forget blocks ``keep`` or more below it, move the checkpoint
    (stamped with ``chain_id`` and ``genesis_hash`` when given)."""
    session.merge(
        CanonicalBlock(
            chain=chain,
            number=number,
            hash=block_hash,
            parent_hash=parent_hash,
            timestamp=timestamp,
        )
    )
    session.execute(
        delete(CanonicalBlock).where(
            CanonicalBlock.chain == chain, CanonicalBlock.number <= number - keep
        )
    )
    save_checkpoint(
        session,
        chain=chain,
        block_number=number,
        block_hash=block_hash,
        now=now,
        chain_id=chain_id,
        genesis_hash=genesis_hash,
    )


def remove_canonical_block(session: Session, *, chain: str, number: int, now: datetime) -> None:
    """Retract a delivered block; the checkpoint moves back to its parent."""
    removed = session.get(CanonicalBlock, (chain, number))
    session.execute(
        delete(CanonicalBlock).where(CanonicalBlock.chain == chain, CanonicalBlock.number >= number)
    )
    if removed is not None:
        save_checkpoint(
            session, chain=chain, block_number=number - 1, block_hash=removed.parent_hash, now=now
        )
