"""Affected users and their losses per asset, exact to the wei.

For an incident on one chain, ``before`` is the block just before the first exploit
transaction and ``end`` the containment block. Each user's loss of one asset is::

    loss = max(0, value_before + paid_in - value_after - received) + taken

- ``value_before`` / ``value_after``: the user's positions valued through the plan's
  ``analysis.positions`` at ``before`` and ``end`` (``view(user) * scale() // 10**decimals``,
  summed over the positions of that asset), read with batched ``eth_call`` at those blocks;
- ``received``: the asset the position contracts sent to the user in blocks ``before+1..end``
  (withdrawals during the attack), ``paid_in``: what the user sent them (deposits);
- ``taken``: other ERC-20 transfers out of the user in that range that went to the attacker
  cluster, or happened inside an exploit transaction (net of what the user got back in that
  same transaction, so a repaid flash lender lost nothing) — e.g. an abused approval. Transfers of
  a position contract's own token (shares) are left out: their value is already in the position.

Users are every address named in an indexed topic of a log of the position contracts up to
``end`` (Transfer, Deposit, Withdraw, ...) and every party of the exploit transactions'
transfers, minus the attacker cluster, the plan's contracts, the assets and the zero address.
All amounts are Python ints; nothing goes through floats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from breakglass.analysis.pricing import Price, UsdFigure, figure
from breakglass.chain.pool import EndpointPool
from breakglass.errors import ChainError, PlanError
from breakglass.plan.models import Plan

__all__ = [
    "TRANSFER_TOPIC",
    "ZERO_ADDRESS",
    "LogTransfer",
    "Loss",
    "PricedLoss",
    "ResolvedPosition",
    "compute_losses",
    "fetch_logs",
    "fetch_transfers",
    "find_users",
    "parse_transfer",
    "price_losses",
    "read_positions",
    "resolve_positions",
]

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
ZERO_ADDRESS = "0x" + "00" * 20
_TOPIC_CHUNK = 100
_CALL_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LogTransfer:
    """One ERC-20 ``Transfer`` log (addresses lower-case); or ether moved by a call, with
    asset ``"ETH"`` and ``log_index`` its place among the transaction's ether transfers."""

    asset: str
    from_: str
    to: str
    amount: int
    tx_hash: str
    block: int
    log_index: int


@dataclass(frozen=True, slots=True)
class ResolvedPosition:
    """A plan position with its contract's address (lower-case) and call selectors."""

    contract: str
    address: str
    view: str
    scale: str | None
    scale_decimals: int
    asset: str


@dataclass(frozen=True, slots=True)
class Loss:
    """One user's loss of one asset (base units) and the terms it was computed from."""

    address: str
    asset: str
    amount: int
    before: int
    after: int
    received: int
    paid_in: int
    taken: int

    def detail(self) -> dict[str, Any]:
        """The terms as decimal strings (for JSON columns: exact, no float)."""
        return {k: str(getattr(self, k)) for k in _TERMS}

    @property
    def figure(self) -> UsdFigure | None:
        """The USD figure, once priced (see :class:`PricedLoss`)."""
        return None


_TERMS = ("amount", "before", "after", "received", "paid_in", "taken")


@dataclass(frozen=True, slots=True)
class PricedLoss(Loss):
    """A :class:`Loss` with its USD figure (:func:`price_losses`)."""

    usd: UsdFigure

    def detail(self) -> dict[str, Any]:
        """The terms, and ``usd_value``, ``price_usd`` (decimal strings or null), ``decimals``
        and ``price_source``: what the recovery package reads for USD caps."""
        return {k: str(getattr(self, k)) for k in _TERMS} | self.usd.to_dict()

    @property
    def figure(self) -> UsdFigure:
        """The USD figure."""
        return self.usd


def price_losses(losses: Iterable[Loss], prices: Mapping[str, Price]) -> list[Loss]:
    """``losses`` as :class:`PricedLoss` with figures from ``prices`` (by lower-case asset);
    an asset without a price gets a figure without value that says so."""
    return [
        PricedLoss(**{f: getattr(x, f) for f in _FIELDS}, usd=figure(prices, x.asset, x.amount))
        for x in losses
    ]


_FIELDS = ("address", "asset", *_TERMS)


def _topic_address(topic: str) -> str | None:
    raw = topic.removeprefix("0x")
    if len(raw) != 64 or raw[:24] != "0" * 24:
        return None
    return "0x" + raw[24:].lower()


def _pad(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def parse_transfer(log: Mapping[str, Any]) -> LogTransfer | None:
    """A ``Transfer(address,address,uint256)`` log as :class:`LogTransfer` (ERC-721: None)."""
    topics = log.get("topics") or []
    if len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
        return None
    data = str(log.get("data", "0x"))
    if len(data) != 66:
        return None
    from_, to = _topic_address(topics[1]), _topic_address(topics[2])
    if from_ is None or to is None:
        return None
    return LogTransfer(
        asset=str(log["address"]).lower(),
        from_=from_,
        to=to,
        amount=int(data, 16),
        tx_hash=str(log["transactionHash"]).lower(),
        block=int(log["blockNumber"], 16),
        log_index=int(log["logIndex"], 16),
    )


def resolve_positions(plan: Plan) -> list[ResolvedPosition]:
    """The plan's ``analysis.positions`` with contract addresses.

    Raises:
        PlanError: no ``analysis.positions``, or one names an unknown contract.
    """
    if plan.analysis is None or not plan.analysis.positions:
        raise PlanError("the plan has no analysis.positions: cannot value user positions")
    resolved = []
    for position in plan.analysis.positions:
        contract = plan.contracts.get(position.contract)
        if contract is None:
            raise PlanError(f"analysis.positions names unknown contract {position.contract!r}")
        resolved.append(
            ResolvedPosition(
                contract=position.contract,
                address=contract.address.lower(),
                view=position.view,
                scale=position.scale,
                scale_decimals=position.scale_decimals,
                asset=position.asset.lower(),
            )
        )
    return resolved


async def fetch_logs(
    pool: EndpointPool, flt: Mapping[str, Any], from_block: int, to_block: int
) -> list[dict[str, Any]]:
    """``eth_getLogs`` over ``from_block..to_block``, halving the range when a node refuses."""
    if to_block < from_block:
        return []
    query = {**flt, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
    try:
        logs: list[dict[str, Any]] = await pool.request("eth_getLogs", [query])
    except ChainError:
        if to_block == from_block:
            raise
        middle = (from_block + to_block) // 2
        return await fetch_logs(pool, flt, from_block, middle) + await fetch_logs(
            pool, flt, middle + 1, to_block
        )
    return logs


async def fetch_transfers(
    pool: EndpointPool, *, senders: Iterable[str], from_block: int, to_block: int
) -> list[LogTransfer]:
    """Every ERC-20 transfer out of ``senders`` (any token) in the block range."""
    padded = sorted({_pad(s) for s in senders})
    found: list[LogTransfer] = []
    for i in range(0, len(padded), _TOPIC_CHUNK):
        flt = {"topics": [TRANSFER_TOPIC, padded[i : i + _TOPIC_CHUNK]]}
        for log in await fetch_logs(pool, flt, from_block, to_block):
            if (transfer := parse_transfer(log)) is not None:
                found.append(transfer)
    return sorted(found, key=lambda t: (t.block, t.log_index))


async def find_users(
    pool: EndpointPool, contracts: Iterable[str], *, from_block: int, to_block: int
) -> set[str]:
    """Addresses named in indexed topics of the ``contracts``' logs (depositors, holders)."""
    addresses = sorted({c.lower() for c in contracts})
    users: set[str] = set()
    if not addresses:
        return users
    for log in await fetch_logs(pool, {"address": addresses}, from_block, to_block):
        for topic in (log.get("topics") or [])[1:]:
            if (address := _topic_address(topic)) is not None and address != ZERO_ADDRESS:
                users.add(address)
    return users


def _selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


async def read_positions(
    pool: EndpointPool,
    positions: Sequence[ResolvedPosition],
    users: Iterable[str],
    block: int,
) -> dict[tuple[str, str], int]:
    """Each user's value per asset at ``block``, from batched ``eth_call``s."""
    block_tag = hex(block)
    ordered = sorted(set(users))
    scales: dict[int, int] = {}
    scale_calls = [(i, p) for i, p in enumerate(positions) if p.scale is not None]
    if scale_calls:
        answers = await pool.batch(
            [
                ("eth_call", [{"to": p.address, "data": "0x" + _selector(str(p.scale))}, block_tag])
                for _, p in scale_calls
            ]
        )
        scales = {
            i: int(a, 16) if a not in (None, "0x") else 0
            for (i, _), a in zip(scale_calls, answers, strict=True)
        }
    calls = [
        (p_index, user, {"to": p.address, "data": "0x" + _selector(p.view) + _pad(user)[2:]})
        for p_index, p in enumerate(positions)
        for user in ordered
    ]
    values: dict[tuple[str, str], int] = defaultdict(int)
    for i in range(0, len(calls), _CALL_CHUNK):
        chunk = calls[i : i + _CALL_CHUNK]
        answers = await pool.batch([("eth_call", [c, block_tag]) for _, _, c in chunk])
        for (p_index, user, _), answer in zip(chunk, answers, strict=True):
            position = positions[p_index]
            raw = int(answer[:66], 16) if answer not in (None, "0x") else 0
            if position.scale is not None:
                raw = raw * scales[p_index] // 10**position.scale_decimals
            values[user, position.asset] += raw
    return dict(values)


def compute_losses(
    positions: Sequence[ResolvedPosition],
    before: Mapping[tuple[str, str], int],
    after: Mapping[tuple[str, str], int],
    transfers: Iterable[LogTransfer],
    *,
    users: Iterable[str],
    exploit_txs: Iterable[str],
    cluster: Iterable[str],
) -> list[Loss]:
    """Losses per (user, asset) by the module's formula; users without any value are left out.

    ``transfers`` are the ERC-20 transfers of the range out of users, those of the assets
    between users and the position contracts, and every transfer of the exploit
    transactions (netted per transaction and user: what a user got back in the same
    transaction, e.g. a repaid flash lender, is not taken); ``before``/``after`` come from
    :func:`read_positions`.
    """
    user_set = {u.lower() for u in users}
    txs = {t.lower() for t in exploit_txs}
    attackers = {c.lower() for c in cluster}
    vaults = {(p.address, p.asset) for p in positions}
    share_tokens = {p.address for p in positions}
    received: dict[tuple[str, str], int] = defaultdict(int)
    paid_in: dict[tuple[str, str], int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    in_tx: dict[tuple[str, str, str], int] = defaultdict(int)
    seen: set[tuple[str, str, int]] = set()
    for t in transfers:
        if (t.tx_hash, t.asset, t.log_index) in seen:
            continue
        seen.add((t.tx_hash, t.asset, t.log_index))
        if t.to in user_set and (t.from_, t.asset) in vaults:
            received[t.to, t.asset] += t.amount
        elif t.from_ in user_set and (t.to, t.asset) in vaults:
            paid_in[t.from_, t.asset] += t.amount
        elif t.asset in share_tokens:
            continue
        elif t.tx_hash in txs:
            # Netted per exploit transaction: a flash lender that is repaid lost nothing.
            if t.from_ in user_set:
                in_tx[t.tx_hash, t.from_, t.asset] -= t.amount
            if t.to in user_set:
                in_tx[t.tx_hash, t.to, t.asset] += t.amount
        elif t.from_ in user_set and t.to in attackers:
            taken[t.from_, t.asset] += t.amount
    for (_, user, asset), net in in_tx.items():
        if net < 0:
            taken[user, asset] -= net
    keys = set(before) | set(after) | set(received) | set(paid_in) | set(taken)
    losses = []
    for user, asset in sorted(keys):
        if user not in user_set:
            continue
        terms = (before.get((user, asset), 0), after.get((user, asset), 0))
        got, paid, lost = received[user, asset], paid_in[user, asset], taken[user, asset]
        if not any((*terms, got, paid, lost)):
            continue
        amount = max(0, terms[0] + paid - terms[1] - got) + lost
        losses.append(Loss(user, asset, amount, terms[0], terms[1], got, paid, lost))
    return losses
