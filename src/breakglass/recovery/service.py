"""Compensation from the store: losses of an incident → entitlements → a Merkle distribution.

The incident's losses are its ``UserLoss`` rows; its attacker cluster is its
``AttackerRecord`` rows of kind ``address`` or ``contract``, which get nothing. A loss's USD
price comes from ``detail["price_usd"]`` (per whole token) with ``detail["decimals"]`` when the
analysis recorded them, else from its ``usd_value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents.errors import IncidentNotFound
from breakglass.incidents.evidence import attacker_records
from breakglass.incidents.service import get_incident
from breakglass.outputs import output_dir, write_bytes
from breakglass.plan.models import Plan
from breakglass.recovery.merkle import MerkleDistribution
from breakglass.recovery.policy import (
    ATTACKER_CLUSTER,
    Cause,
    Compensation,
    Entitlement,
    Loss,
    Price,
    RecoveryError,
    apply_policy,
)
from breakglass.store.models import Distribution, UserLoss

__all__ = [
    "build_distribution",
    "compute_compensation",
    "compute_entitlements",
    "write_distribution",
]

_CLUSTER_KINDS = ("address", "contract")


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _rows(session: Session, incident_id: int) -> Sequence[UserLoss]:
    try:
        get_incident(session, incident_id)
    except IncidentNotFound:
        raise RecoveryError(f"no incident #{incident_id}") from None
    query = select(UserLoss).where(UserLoss.incident_id == incident_id).order_by(UserLoss.id)
    return session.scalars(query).all()


def _losses(rows: Sequence[UserLoss]) -> tuple[list[Loss], dict[str, Price]]:
    losses: list[Loss] = []
    prices: dict[str, Price] = {}
    for row in rows:
        try:
            amount = int(row.amount)
        except ValueError:
            raise RecoveryError(f"loss #{row.id} has a bad amount {row.amount!r}") from None
        losses.append(Loss(row.address, row.asset, amount, _decimal(row.usd_value)))
        detail = row.detail or {}
        price, decimals = _decimal(detail.get("price_usd")), detail.get("decimals")
        if price is not None and isinstance(decimals, int):
            prices[row.asset.lower()] = (price, decimals)
    return losses, prices


def _attacker_cluster(session: Session, incident_id: int) -> dict[str, str]:
    return {
        record.value.lower(): ATTACKER_CLUSTER
        for record in attacker_records(session, incident_id)
        if record.kind in _CLUSTER_KINDS
    }


def compute_compensation(
    session: Session, plan: Plan, incident_id: int, *, cause: Cause = "contract-flaw"
) -> Compensation:
    """The plan's compensation policy applied to the incident's losses.

    Raises:
        RecoveryError: no such incident, no ``compensation_policy`` in the plan, or a USD rule
            without a price.
    """
    policy = plan.compensation_policy
    if policy is None:
        raise RecoveryError("the plan has no compensation_policy")
    losses, prices = _losses(_rows(session, incident_id))
    excluded = _attacker_cluster(session, incident_id)
    return apply_policy(losses, policy, cause, excluded=excluded, prices=prices)


def compute_entitlements(
    session: Session, plan: Plan, incident_id: int, *, cause: Cause = "contract-flaw"
) -> list[Entitlement]:
    """The entitlements of :func:`compute_compensation`, sorted by address and asset."""
    return list(compute_compensation(session, plan, incident_id, cause=cause).entitlements)


def build_distribution(
    session: Session,
    incident_id: int,
    token: str,
    *,
    plan: Plan,
    cause: Cause = "contract-flaw",
) -> Distribution:
    """Store (and return) the Merkle distribution of ``token`` for the incident.

    Every address entitled to more than zero of ``token`` gets one leaf. The row keeps the
    root, the total and the tree's ``standard-v1`` dump.

    Raises:
        RecoveryError: as :func:`compute_compensation`; nobody is entitled to ``token``; or its
            losses span more than one chain.
    """
    rows = _rows(session, incident_id)
    chains = {row.chain for row in rows if row.asset.lower() == token.lower()}
    if len(chains) > 1:
        raise RecoveryError(f"losses of {token} span several chains: {', '.join(sorted(chains))}")
    compensation = compute_compensation(session, plan, incident_id, cause=cause)
    amounts: dict[str, int] = {}
    for entitlement in compensation.entitlements:
        if entitlement.asset.lower() == token.lower() and entitlement.amount > 0:
            amounts[entitlement.address] = entitlement.amount
    if not amounts:
        raise RecoveryError(f"nobody is entitled to {token} in incident #{incident_id}")
    tree = MerkleDistribution.build(amounts)
    record = Distribution(
        incident_id=incident_id,
        chain=chains.pop(),
        token=token,
        root=tree.root_hex,
        total=str(tree.total),
        tree=tree.dump(),
        created_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    return record


def write_distribution(tree: MerkleDistribution, directory: Path) -> tuple[Path, Path]:
    """Write ``tree.json`` (for ``StandardMerkleTree.load``) and ``claims.json`` there."""
    output_dir(directory)
    tree_path = write_bytes(
        directory / "tree.json", orjson.dumps(tree.dump(), option=orjson.OPT_INDENT_2)
    )
    claims_path = write_bytes(
        directory / "claims.json", orjson.dumps(tree.claims(), option=orjson.OPT_INDENT_2)
    )
    return tree_path, claims_path
