"""Migration snapshots: every user's position per asset at one block, for a new contract.

Users are the addresses in indexed topics of the position contracts' logs up to the block
(as the loss analysis finds them); values come from the plan's ``analysis.positions`` views
read at the block. Each asset's positions become a Merkle distribution in the compensation
format, so the new contract lets users claim them with the same ``MerkleDistributor``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from breakglass.outputs import output_dir, write_bytes, write_text
from breakglass.recovery.merkle import MerkleDistribution

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.chain.pool import EndpointPool
    from breakglass.plan.models import Plan

__all__ = ["SNAPSHOT_EVENT", "Snapshot", "record_snapshot", "take_snapshot", "write_snapshot"]

SNAPSHOT_EVENT = "migration-snapshot"
"""``data["kind"]`` of the timeline event that records a snapshot."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    chain: str
    block: int
    positions: dict[str, dict[str, int]]
    """asset → user → value in the asset's base units (users with nothing left out)."""

    def trees(self) -> dict[str, MerkleDistribution]:
        return {asset: MerkleDistribution.build(users) for asset, users in self.positions.items()}

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["asset", "address", "amount"])
        for asset, users in sorted(self.positions.items()):
            for user, amount in sorted(users.items()):
                writer.writerow([asset, user, amount])
        return buffer.getvalue()

    def to_json(self) -> dict[str, Any]:
        trees = self.trees()
        return {
            "chain": self.chain,
            "block": self.block,
            "assets": {
                asset: {
                    "root": trees[asset].root_hex,
                    "total": str(trees[asset].total),
                    "positions": {u: str(v) for u, v in sorted(users.items())},
                }
                for asset, users in sorted(self.positions.items())
            },
        }


async def take_snapshot(
    pool: EndpointPool, plan: Plan, *, chain: str, block: int, from_block: int = 0
) -> Snapshot:
    """Every user's position per asset at ``block`` on ``chain``.

    Raises:
        PlanError: the plan has no ``analysis.positions`` on ``chain``.
    """
    from breakglass.analysis.losses import (  # noqa: PLC0415
        find_users,
        read_positions,
        resolve_positions,
    )
    from breakglass.errors import PlanError  # noqa: PLC0415

    positions = [p for p in resolve_positions(plan) if plan.contracts[p.contract].chain == chain]
    if not positions:
        raise PlanError(f"analysis.positions has no contract on chain {chain!r}")
    users = await find_users(
        pool, [p.address for p in positions], from_block=from_block, to_block=block
    )
    users -= {p.address for p in positions}
    values = await read_positions(pool, positions, users, block)
    by_asset: dict[str, dict[str, int]] = defaultdict(dict)
    for (user, asset), value in values.items():
        if value > 0:
            by_asset[asset][user] = value
    return Snapshot(chain, block, dict(by_asset))


def write_snapshot(snapshot: Snapshot, directory: Path) -> list[Path]:
    """``snapshot.csv``, ``snapshot.json`` and per asset ``<asset>/tree.json`` and
    ``<asset>/claims.json`` (the compensation distribution's files) under ``directory``."""
    output_dir(directory)
    written = [
        write_text(directory / "snapshot.csv", snapshot.csv()),
        write_bytes(
            directory / "snapshot.json",
            orjson.dumps(snapshot.to_json(), option=orjson.OPT_INDENT_2),
        ),
    ]
    for asset, tree in snapshot.trees().items():
        folder = output_dir(directory / asset)
        written.append(
            write_bytes(folder / "tree.json", orjson.dumps(tree.dump(), option=orjson.OPT_INDENT_2))
        )
        written.append(
            write_bytes(
                folder / "claims.json", orjson.dumps(tree.claims(), option=orjson.OPT_INDENT_2)
            )
        )
    return written


def record_snapshot(session: Session, *, incident_id: int, snapshot: Snapshot) -> dict[str, Any]:
    """Put the snapshot's roots and totals per asset on the incident's timeline; return them.

    Raises:
        IncidentNotFound: there is no such incident.
    """
    from breakglass.incidents import EventKind, get_incident, record_event  # noqa: PLC0415

    get_incident(session, incident_id)
    assets = snapshot.to_json()["assets"]
    roots = {a: {"root": v["root"], "total": v["total"]} for a, v in assets.items()}
    record_event(
        session,
        incident_id,
        EventKind.NOTE,
        f"Migration snapshot at block {snapshot.block}: "
        + ", ".join(f"{a} root {r['root']}" for a, r in roots.items()),
        actor="breakglass",
        block_number=snapshot.block,
        data={"kind": SNAPSHOT_EVENT, "chain": snapshot.chain, "block": snapshot.block,
              "assets": roots},
    )  # fmt: skip
    return roots
