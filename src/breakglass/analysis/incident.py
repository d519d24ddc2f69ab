"""One incident's analysis: attacker cluster, affected users, losses and fund movements.

:func:`analyze_incident` reads the chain (receipts, traces, logs and ``eth_call`` at two
blocks) and returns an :class:`IncidentAnalysis`; :func:`store_incident_analysis` writes it
as the incident's evidence rows, replacing what an earlier run wrote.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from breakglass.analysis.cluster import AttackerCluster, build_cluster, trace_facts
from breakglass.analysis.losses import (
    ZERO_ADDRESS,
    LogTransfer,
    Loss,
    compute_losses,
    fetch_transfers,
    find_users,
    parse_transfer,
    price_losses,
    read_positions,
    resolve_positions,
)
from breakglass.analysis.pricing import Price, plan_prices, read_prices
from breakglass.chain.pool import EndpointPool
from breakglass.errors import BreakglassError, PlanError
from breakglass.plan.models import Plan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "Affected",
    "IncidentAnalysis",
    "Movement",
    "analyze_incident",
    "incident_chain",
    "store_incident_analysis",
]


@dataclass(frozen=True, slots=True)
class Affected:
    """An address the incident touched: ``status`` is impacted, saved or at-risk."""

    address: str
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class Movement:
    """Tokens that left a victim contract or an attacker address in an exploit transaction."""

    origin: str
    tx_hash: str
    asset: str
    amount: int
    destination: str
    destination_kind: str


@dataclass(slots=True)
class IncidentAnalysis:
    """Everything :func:`analyze_incident` found, addresses lower-case, amounts exact ints;
    ``prices`` are the assets' USD prices at ``end_block`` (those the plan configures)."""

    chain: str
    tx_hashes: list[str]
    first_block: int
    end_block: int
    contained: bool
    victims: list[str]
    cluster: AttackerCluster
    users: list[str]
    losses: list[Loss]
    affected: list[Affected]
    movements: list[Movement]
    transfers: list[LogTransfer] = field(default_factory=list, repr=False)
    prices: dict[str, Price] = field(default_factory=dict)

    def total_losses(self) -> dict[str, int]:
        """Sum of the users' losses per asset."""
        totals: dict[str, int] = defaultdict(int)
        for loss in self.losses:
            totals[loss.asset] += loss.amount
        return dict(totals)


async def _fetch_txs(
    pool: EndpointPool, tx_hashes: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = [("eth_getTransactionByHash", [h]) for h in tx_hashes]
    calls += [("eth_getTransactionReceipt", [h]) for h in tx_hashes]
    answers = await pool.batch(calls)
    txs, receipts = answers[: len(tx_hashes)], answers[len(tx_hashes) :]
    missing = [h for h, r in zip(tx_hashes, receipts, strict=True) if r is None]
    if missing or any(t is None for t in txs):
        raise BreakglassError(f"transactions not found or not mined: {', '.join(missing)}")
    order = sorted(
        range(len(txs)),
        key=lambda i: (
            int(receipts[i]["blockNumber"], 16),
            int(receipts[i]["transactionIndex"], 16),
        ),
    )
    return [txs[i] for i in order], [receipts[i] for i in order]


def incident_chain(plan: Plan, chain: str | None = None) -> str:
    """The chain of the plan's positions: ``chain`` when one is deployed there, else their
    only one (every chain a position's contract is deployed on counts, not just its home).

    Raises:
        PlanError: no positions, none on ``chain``, or several chains and no ``chain``.
    """
    chains = {c for p in resolve_positions(plan) for c in plan.contracts[p.contract].chains}
    if chain is not None:
        if chain not in chains:
            raise PlanError(f"analysis.positions has no contract on chain {chain!r}")
        return chain
    if len(chains) != 1:
        raise PlanError("analysis.positions spans several chains; name the chain to analyse")
    return chains.pop()


async def analyze_incident(
    pool: EndpointPool,
    plan: Plan,
    tx_hashes: Sequence[str],
    *,
    containment_block: int | None,
    chain: str | None = None,
    contracts: Sequence[str] | None = None,
) -> IncidentAnalysis:
    """Analyse the exploit ``tx_hashes`` on ``pool``'s chain up to ``containment_block``.

    Without a containment block the latest block is the end, and users' remaining value is
    reported at-risk instead of saved. ``contracts`` (plan contract names, e.g. the
    incident's) narrows the scope: only their positions are valued and only they count as
    victims; by default every position contract on the chain is in scope.

    Raises:
        PlanError: the plan cannot value positions (see :mod:`breakglass.analysis.losses`).
        BreakglassError: no transactions, or some are unknown or not mined.
    """
    if not tx_hashes:
        raise BreakglassError("an incident analysis needs at least one exploit transaction")
    chain = incident_chain(plan, chain)
    # Contracts, positions and prices at their addresses on this chain, whatever their home.
    plan = plan.on_chain(chain)
    positions = [p for p in resolve_positions(plan) if plan.contracts[p.contract].chain == chain]
    scope = {p.contract for p in positions} if contracts is None else set(contracts)
    positions = [p for p in positions if p.contract in scope]
    if not positions:
        raise PlanError(f"no analysis.positions for contracts {', '.join(sorted(scope))}")
    hashes = list(dict.fromkeys(h.lower() for h in tx_hashes))
    txs, receipts = await _fetch_txs(pool, hashes)
    first_block = int(receipts[0]["blockNumber"], 16)
    contained = containment_block is not None
    end = containment_block if containment_block is not None else await _latest(pool)
    last_block = int(receipts[-1]["blockNumber"], 16)
    if end < last_block:
        raise BreakglassError(f"containment block {end} is before exploit block {last_block}")

    assets = {p.asset for p in positions}
    in_scope = {plan.contracts[n].address.lower() for n in scope if n in plan.contracts}
    victims = sorted({p.address for p in positions} | (in_scope - assets))
    known = {c.address.lower() for c in plan.contracts.values() if c.chain == chain}
    known |= assets | {ZERO_ADDRESS}
    facts = await trace_facts(pool, hashes)
    exploit_transfers = [
        t for r in receipts for log in r.get("logs") or () if (t := parse_transfer(log))
    ] + facts.native
    from_block = plan.start_block(chain)
    holders = {p.address for p in positions}
    depositors = await find_users(pool, holders, from_block=from_block, to_block=end)
    cluster = build_cluster(
        txs,
        receipts,
        exploit_transfers,
        victims=victims,
        users=depositors,
        known=known,
        creations=facts.creations,
        touched=facts.touched,
    )
    parties = {a for t in exploit_transfers for a in (t.from_, t.to)}
    users = sorted((depositors | parties) - cluster.addresses - known)

    before = await read_positions(pool, positions, users, first_block - 1)
    after = await read_positions(pool, positions, users, end)
    ranged = await fetch_transfers(
        pool, senders=[*users, *victims], from_block=first_block, to_block=end
    )
    transfers = ranged + exploit_transfers
    losses = compute_losses(
        positions,
        before,
        after,
        transfers,
        users=users,
        exploit_txs=hashes,
        cluster=cluster.addresses,
    )
    # Valued at the containment block (or the latest), with the plan's price sources.
    prices = await read_prices(pool, plan_prices(plan), {x.asset for x in losses}, end)
    losses = price_losses(losses, prices)
    return IncidentAnalysis(
        chain=chain,
        tx_hashes=[str(t["hash"]).lower() for t in txs],
        first_block=first_block,
        end_block=end,
        contained=contained,
        victims=victims,
        cluster=cluster,
        users=sorted({x.address for x in losses}),
        losses=losses,
        affected=_affected(losses, after, exploit_transfers, victims, contained=contained),
        movements=_movements(plan, exploit_transfers, victims, cluster),
        transfers=transfers,
        prices=prices,
    )


async def _latest(pool: EndpointPool) -> int:
    return int(await pool.request("eth_blockNumber", []), 16)


def _affected(
    losses: Sequence[Loss],
    after: dict[tuple[str, str], int],
    exploit_transfers: Sequence[LogTransfer],
    victims: Sequence[str],
    *,
    contained: bool,
) -> list[Affected]:
    rows: dict[str, Affected] = {}
    for victim in victims:
        out = sum(t.amount for t in exploit_transfers if t.from_ == victim)
        back = sum(t.amount for t in exploit_transfers if t.to == victim)
        if out > back:
            rows[victim] = Affected(victim, "impacted", f"net outflow {out - back} in exploits")
    by_user: dict[str, list[Loss]] = defaultdict(list)
    for loss in losses:
        by_user[loss.address].append(loss)
    for user, items in sorted(by_user.items()):
        lost = [x for x in items if x.amount > 0]
        remaining = sum(after.get((user, x.asset), 0) for x in items)
        if lost:
            note = ", ".join(f"lost {x.amount} of {x.asset}" for x in lost)
            rows[user] = Affected(user, "impacted", note)
        elif remaining > 0:
            status = "saved" if contained else "at-risk"
            rows[user] = Affected(user, status, f"{remaining} still held")
    return list(rows.values())


def _movements(
    plan: Plan,
    exploit_transfers: Sequence[LogTransfer],
    victims: Sequence[str],
    cluster: AttackerCluster,
) -> list[Movement]:
    victim_set = set(victims)
    moves = []
    for t in exploit_transfers:
        if t.to in victim_set or t.to == t.from_:
            continue
        if t.from_ not in victim_set and t.from_ not in cluster:
            continue
        label = plan.analysis.label(t.to) if plan.analysis is not None else None
        kind = str(label.kind) if label is not None else "unknown"
        moves.append(Movement(t.from_, t.tx_hash, t.asset, t.amount, t.to, kind))
    return moves


def _float(loss: Loss) -> float | None:
    """The ``usd_value`` column (a float: the exact figure is ``detail["usd_value"]``)."""
    usd = loss.figure.usd if loss.figure is not None else None
    return None if usd is None else float(usd)


def store_incident_analysis(session: Session, incident_id: int, analysis: IncidentAnalysis) -> None:
    """Write ``analysis`` as the incident's losses (UserLoss rows, analysis's own, replaced
    whole) and evidence: attacker records, fund movements and affected addresses go through
    incidents' :func:`~breakglass.incidents.evidence.replace_analysed_evidence`, which
    replaces what an earlier analysis wrote and keeps what people entered (idempotent).

    Raises:
        IncidentError: there is no such incident.
    """
    from sqlalchemy import delete  # noqa: PLC0415 - SQLAlchemy is slow to import

    from breakglass.incidents import evidence  # noqa: PLC0415
    from breakglass.incidents.service import get_incident  # noqa: PLC0415
    from breakglass.store.models import UserLoss  # noqa: PLC0415

    get_incident(session, incident_id)
    session.execute(delete(UserLoss).where(UserLoss.incident_id == incident_id))
    chain = analysis.chain
    for loss in analysis.losses:
        session.add(
            UserLoss(
                incident_id=incident_id,
                chain=chain,
                address=loss.address,
                asset=loss.asset,
                amount=str(loss.amount),
                usd_value=_float(loss),
                detail=loss.detail(),
            )
        )
    attackers = [
        evidence.AnalysedAttacker(
            "contract" if member.kind == "contract" else "address",
            member.address,
            f"{member.kind}: {member.note}",
        )
        for member in analysis.cluster.members.values()
    ]
    movements = [
        evidence.AnalysedMovement(
            chain=chain,
            origin=move.origin,
            tx_hash=move.tx_hash,
            asset=move.asset,
            amount=str(move.amount),
            destination=move.destination,
            destination_kind=move.destination_kind,
        )
        for move in analysis.movements
    ]
    affected = [
        evidence.AnalysedAddress(chain, row.address, row.status, row.note)
        for row in analysis.affected
    ]
    evidence.replace_analysed_evidence(
        session, incident_id, attackers=attackers, movements=movements, affected=affected
    )
