"""Safe proposals kept in the database while owners sign them.

A proposal stores the Safe transaction, the check that confirms its effect and each owner's
signature. Signatures are public (they are posted to the Safe Transaction Service too); the
keys that made them never leave the signer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.respond.signers.local import LocalSigner
from breakglass.respond.signers.safe import (
    SafeTxData,
    from_service_json,
    recover_signer,
    sign_safe_tx,
    to_service_json,
)
from breakglass.store.models import SafeProposal, SafeSignature

__all__ = [
    "DELEGATECALL",
    "ProposalView",
    "SafeProposalError",
    "add_signature",
    "check_operation",
    "export_proposal",
    "import_proposal",
    "load_proposal",
    "mark_proposal",
    "save_proposal",
]


DELEGATECALL = 1
"""A Safe transaction's ``operation`` that runs the target's code as the Safe itself."""


class SafeProposalError(BreakglassError):
    """A proposal is unknown, or a signature does not belong on it."""


def check_operation(
    tx: SafeTxData, *, delegatecall_allowed: Collection[str] = (), safe_name: str = "<safe>"
) -> None:
    """Refuse a delegatecall to a target the plan does not allow for this Safe: it runs the
    target's code as the Safe, which can then change its owners or move all it holds.

    Raises:
        SafeProposalError: a delegatecall to another target, or an unknown operation.
    """
    if tx.operation == 0:
        return
    if tx.operation != DELEGATECALL:
        raise SafeProposalError(f"Safe transactions have operation 0 or 1, not {tx.operation}")
    if tx.to.lower() not in {address.lower() for address in delegatecall_allowed}:
        raise SafeProposalError(
            f"refused: a DELEGATECALL to {tx.to} would run that contract's code as Safe "
            f"{tx.safe}, able to take its owners and funds; list the target in "
            f"signers.{safe_name}.delegatecall_allowed if the plan means it"
        )


@dataclass(frozen=True)
class ProposalView:
    """A stored proposal with its signatures, ready to execute or export."""

    id: int
    chain: str
    tx: SafeTxData
    threshold: int
    status: str
    signatures: dict[str, bytes]
    meta: dict[str, Any]
    step_id: int | None

    @property
    def ready(self) -> bool:
        return len(self.signatures) >= self.threshold


def _tx_json(tx: SafeTxData) -> dict[str, Any]:
    body = to_service_json(tx, {}, sender=tx.safe)
    body.pop("confirmations", None)
    return body


def save_proposal(
    sessions: sessionmaker[Session],
    *,
    chain: str,
    tx: SafeTxData,
    threshold: int,
    signatures: Mapping[str, bytes],
    meta: Mapping[str, Any],
    step_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Store a proposal (or find the one with the same Safe tx hash) and add signatures."""
    stamp = now or datetime.now(UTC)
    tx_hash = "0x" + tx.safe_tx_hash.hex()
    with sessions() as session, session.begin():
        row = session.scalar(select(SafeProposal).where(SafeProposal.safe_tx_hash == tx_hash))
        if row is None:
            row = SafeProposal(
                chain=chain,
                safe_tx_hash=tx_hash,
                step_id=step_id,
                tx={**_tx_json(tx), "meta": dict(meta)},
                threshold=threshold,
                status="collecting",
                created_at=stamp,
            )
            session.add(row)
            session.flush()
        for owner, signature in signatures.items():
            _store_signature(session, row, tx, owner, signature, stamp)
        return row.id


def _store_signature(
    session: Session,
    row: SafeProposal,
    tx: SafeTxData,
    owner: str,
    signature: bytes,
    stamp: datetime,
) -> None:
    signer = recover_signer(tx, signature)
    if signer.lower() != owner.lower():
        raise SafeProposalError(f"a signature claimed for {owner} was made by {signer}")
    known = session.scalar(
        select(SafeSignature).where(
            SafeSignature.proposal_id == row.id, SafeSignature.owner == signer
        )
    )
    if known is None:
        session.add(
            SafeSignature(
                proposal_id=row.id, owner=signer, signature="0x" + signature.hex(), added_at=stamp
            )
        )


def load_proposal(sessions: sessionmaker[Session], proposal_id: int) -> ProposalView:
    """The proposal ``proposal_id`` with its signatures.

    Raises:
        SafeProposalError: there is no such proposal.
    """
    with sessions() as session:
        row = session.get(SafeProposal, proposal_id)
        if row is None:
            raise SafeProposalError(f"there is no Safe proposal {proposal_id}")
        rows = session.scalars(
            select(SafeSignature).where(SafeSignature.proposal_id == proposal_id)
        )
        signatures = {s.owner: bytes.fromhex(s.signature[2:]) for s in rows}
        body = dict(row.tx)
        meta = dict(body.pop("meta", {}))
        tx, _ = from_service_json(body)
        return ProposalView(
            row.id, row.chain, tx, row.threshold, row.status, signatures, meta, row.step_id
        )


def add_signature(
    sessions: sessionmaker[Session], proposal_id: int, signer: LocalSigner, owners: list[str]
) -> ProposalView:
    """Sign proposal ``proposal_id`` with ``signer``, one of the Safe's ``owners``.

    Raises:
        SafeProposalError: unknown proposal, not an owner, or no longer collecting.
    """
    view = load_proposal(sessions, proposal_id)
    if view.status != "collecting":
        raise SafeProposalError(f"Safe proposal {proposal_id} is {view.status}, not collecting")
    if signer.address.lower() not in {o.lower() for o in owners}:
        raise SafeProposalError(
            f"signer {signer.name!r} ({signer.address}) is not an owner of Safe {view.tx.safe}"
        )
    signature = sign_safe_tx(view.tx, signer.account)
    with sessions() as session, session.begin():
        row = session.get(SafeProposal, proposal_id)
        assert row is not None
        _store_signature(session, row, view.tx, signer.address, signature, datetime.now(UTC))
    return load_proposal(sessions, proposal_id)


def mark_proposal(
    sessions: sessionmaker[Session], proposal_id: int, status: str, executed_tx: str | None = None
) -> None:
    with sessions() as session, session.begin():
        row = session.get(SafeProposal, proposal_id)
        if row is not None:
            row.status = status
            row.executed_tx = executed_tx


def export_proposal(sessions: sessionmaker[Session], proposal_id: int) -> dict[str, Any]:
    """The proposal as the JSON the Safe Transaction Service accepts, signatures included."""
    view = load_proposal(sessions, proposal_id)
    return to_service_json(view.tx, view.signatures)


def import_proposal(
    sessions: sessionmaker[Session],
    doc: Mapping[str, Any],
    *,
    chain: str,
    chain_id: int,
    threshold: int,
    owners: list[str],
    delegatecall_allowed: Collection[str] = (),
    safe_name: str = "<safe>",
) -> int:
    """Store a Safe transaction exported from the Safe interface or another breakglass.

    Raises:
        SafeJsonError: the document is malformed or its hash or signatures do not match.
        SafeProposalError: a signature is not from an owner, or a delegatecall to a target
            outside ``delegatecall_allowed``.
    """
    tx, signatures = from_service_json(dict(doc), chain_id=chain_id)
    check_operation(tx, delegatecall_allowed=delegatecall_allowed, safe_name=safe_name)
    strangers = [o for o in signatures if o.lower() not in {x.lower() for x in owners}]
    if strangers:
        raise SafeProposalError(f"signatures from non-owners: {', '.join(strangers)}")
    return save_proposal(
        sessions,
        chain=chain,
        tx=tx,
        threshold=threshold,
        signatures=signatures,
        meta={"imported": True},
    )
