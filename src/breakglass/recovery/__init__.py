"""Recovery: the plan's compensation policy, entitlements and Merkle distributions.

:func:`apply_policy` turns per-user losses into entitlements (exact base units, every
adjustment with its reason); :class:`MerkleDistribution` builds OpenZeppelin ``StandardMerkleTree``
trees, proofs and claims files; :mod:`breakglass.recovery.service` reads losses from the store.
``docs/recovery.md`` documents the order of the rules and the file formats.
"""

from __future__ import annotations

from breakglass.recovery.merkle import (
    LEAF_ENCODING,
    MerkleDistribution,
    leaf_hash,
    node_hash,
    verify_proof,
)
from breakglass.recovery.output import (
    CSV_COLUMNS,
    entitlement_record,
    entitlements_csv,
    entitlements_json,
    entitlements_table,
)
from breakglass.recovery.policy import (
    ATTACKER_CLUSTER,
    Cause,
    Compensation,
    Entitlement,
    Loss,
    Price,
    RecoveryError,
    apply_policy,
    format_usd,
)

__all__ = [
    "ATTACKER_CLUSTER",
    "CSV_COLUMNS",
    "LEAF_ENCODING",
    "Cause",
    "Compensation",
    "Entitlement",
    "Loss",
    "MerkleDistribution",
    "Price",
    "RecoveryError",
    "apply_policy",
    "entitlement_record",
    "entitlements_csv",
    "entitlements_json",
    "entitlements_table",
    "format_usd",
    "leaf_hash",
    "node_hash",
    "verify_proof",
]
