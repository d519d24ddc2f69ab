"""Post-incident analysis: what a transaction did, call by call and transfer by transfer.

:func:`analyze_tx` fetches one transaction, its receipt, its ``callTracer`` trace (with logs)
and its ``prestateTracer`` diff, and returns a :class:`TxAnalysis`: the decoded call tree,
token and native transfers, net balance changes per address and asset (checked against the
node's own balance diff), and the flash loans taken. :mod:`breakglass.analysis.render` shows
it as a Rich tree, JSON or an SVG fund-flow picture.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.analysis.balances import NativeCheck
from breakglass.analysis.balances import balance_changes as _balance_changes
from breakglass.analysis.balances import check_native as _check_native
from breakglass.analysis.flash import FlashLoan
from breakglass.analysis.flash import find_flash_loans as _find_flash_loans
from breakglass.analysis.trace import Arg, CallNode, EventLog
from breakglass.analysis.trace import Decoder as _Decoder
from breakglass.analysis.trace import build_tree as _build_tree
from breakglass.analysis.transfers import NATIVE, Transfer
from breakglass.analysis.transfers import log_seqs as _log_seqs
from breakglass.analysis.transfers import native_transfers as _native_transfers
from breakglass.analysis.transfers import ordered as _ordered
from breakglass.analysis.transfers import token_transfers as _token_transfers
from breakglass.chain.errors import EndpointError as _EndpointError
from breakglass.errors import ChainError as _ChainError
from breakglass.errors import ConfigError as _ConfigError
from breakglass.errors import PlanError as _PlanError

if typing.TYPE_CHECKING:
    from breakglass.analysis.pricing import Price, UsdFigure
    from breakglass.chain.pool import EndpointPool
    from breakglass.plan.loader import LoadedPlan
    from breakglass.plan.models.analysis import AssetPrice

__all__ = [
    "CALL_TRACER",
    "NATIVE",
    "PRESTATE_DIFF",
    "SCHEMA",
    "AnalysisError",
    "Arg",
    "CallNode",
    "EventLog",
    "FlashLoan",
    "NativeCheck",
    "Transfer",
    "TxAnalysis",
    "analyze_plan_tx",
    "analyze_tx",
    "plan_chain",
    "plan_contracts",
]

SCHEMA = "breakglass.tx-analysis/1"
"""The ``schema`` value of :meth:`TxAnalysis.to_dict` documents."""

CALL_TRACER: dict[str, Any] = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
PRESTATE_DIFF: dict[str, Any] = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
"""``debug_traceTransaction`` options of the two traces :func:`analyze_tx` asks for."""


class AnalysisError(_ChainError):
    """A transaction could not be analysed (unknown hash, no trace support, ...)."""


@dataclass
class TxAnalysis:
    """Everything :func:`analyze_tx` found about one transaction.

    Attributes:
        tx_hash: the transaction hash (lowercase hex).
        block_number: the block that holds it.
        status: 1 when it succeeded, 0 when it reverted.
        sender: ``from``, lowercase.
        to: the called address; for a deployment, the created contract (``None`` if unknown).
        value: wei sent with the transaction.
        gas_used: gas used, from the receipt.
        calls: the root of the decoded call tree (:class:`CallNode`; ``calls.walk()`` visits
            every call in execution order).
        transfers: token and native transfers in execution order (reverted calls excluded).
        balance_changes: (address, asset) → net change; asset is :data:`NATIVE` (``"ETH"``)
            or the token's address; gas is not included (see ``native_check.gas_fee``).
        flash: flash loans and flash swaps taken (:class:`FlashLoan`).
        native_check: how the native changes compare with the node's ``prestateTracer`` diff.
        labels: address → name from the plan, for display.
        prices: token address → its USD price at the block, for the assets the plan's
            ``analysis.prices`` configures (:mod:`breakglass.analysis.pricing`).
    """

    tx_hash: str
    block_number: int
    status: int
    sender: str
    to: str | None
    value: int
    gas_used: int
    calls: CallNode
    transfers: list[Transfer]
    balance_changes: dict[tuple[str, str], int]
    flash: list[FlashLoan]
    native_check: NativeCheck
    labels: dict[str, str] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """Whether the transaction succeeded (status 1)."""
        return self.status == 1

    def label(self, address: str) -> str:
        """The plan's name of ``address`` when it has one, else the address itself."""
        return self.labels.get(address.lower(), address)

    def usd(self, asset: str, amount: int) -> UsdFigure:
        """The USD figure of ``amount`` of ``asset`` at the block, naming its price source."""
        from breakglass.analysis.pricing import figure  # noqa: PLC0415 - keeps imports light

        return figure(self.prices, asset, amount)

    def _usd_keys(self, asset: str, amount: int) -> dict[str, Any]:
        doc = self.usd(asset, amount).to_dict()
        return {"usd_value": doc["usd_value"], "price_source": doc["price_source"]}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in :mod:`breakglass.analysis.render`)."""
        return {
            "schema": SCHEMA,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "status": self.status,
            "sender": self.sender,
            "to": self.to,
            "value": str(self.value),
            "gas_used": self.gas_used,
            "labels": dict(sorted(self.labels.items())),
            "calls": self.calls.to_dict(),
            "transfers": [t.to_dict() | self._usd_keys(t.asset, t.amount) for t in self.transfers],
            "balance_changes": [
                {"address": address, "asset": asset, "change": str(change)}
                | self._usd_keys(asset, change)
                for (address, asset), change in self.balance_changes.items()
            ],
            "flash": [f.to_dict() for f in self.flash],
            "native_check": self.native_check.to_dict(),
            "prices": [
                {
                    "asset": p.asset,
                    "price_usd": None if p.usd is None else str(p.usd),
                    "decimals": p.decimals,
                    "price_source": p.source,
                }
                for p in self.prices.values()
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TxAnalysis:
        """Read back :meth:`to_dict`.

        Raises:
            ValueError: not a document of this schema.
        """
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        from decimal import Decimal  # noqa: PLC0415

        from breakglass.analysis.pricing import Price  # noqa: PLC0415 - keeps imports light

        prices = {
            p["asset"]: Price(
                p["asset"],
                None if p["price_usd"] is None else Decimal(p["price_usd"]),
                p["decimals"],
                p["price_source"],
            )
            for p in doc.get("prices") or ()
        }
        return cls(
            tx_hash=doc["tx_hash"],
            block_number=doc["block_number"],
            status=doc["status"],
            sender=doc["sender"],
            to=doc["to"],
            value=int(doc["value"]),
            gas_used=doc["gas_used"],
            calls=CallNode.from_dict(doc["calls"]),
            transfers=[Transfer.from_dict(t) for t in doc["transfers"]],
            balance_changes={
                (c["address"], c["asset"]): int(c["change"]) for c in doc["balance_changes"]
            },
            flash=[FlashLoan.from_dict(f) for f in doc["flash"]],
            native_check=NativeCheck.from_dict(doc["native_check"]),
            labels=dict(doc["labels"]),
            prices=prices,
        )


def _int(raw: Any) -> int:
    if raw is None:
        return 0
    return int(raw, 16) if isinstance(raw, str) else int(raw)


async def _prestate(pool: EndpointPool, tx_hash: str) -> Mapping[str, Any] | str:
    """The diff-mode prestate trace, or why it is missing."""
    try:
        result = await pool.request("debug_traceTransaction", [tx_hash, PRESTATE_DIFF])
    except (_EndpointError, _ChainError) as exc:
        return f"prestateTracer failed: {exc}"
    if not isinstance(result, Mapping):
        return "prestateTracer gave no diff"
    return result


async def analyze_tx(
    pool: EndpointPool,
    tx_hash: str,
    *,
    abis: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    labels: Mapping[str, str] | None = None,
    prices: Mapping[str, AssetPrice] | None = None,
) -> TxAnalysis:
    """Analyse one mined transaction.

    Args:
        pool: endpoints of the transaction's chain; they must serve ``debug_traceTransaction``.
        tx_hash: the transaction hash.
        abis: address → JSON ABI (the plan's contracts) for decoding calls and events.
        labels: address → display name (the plan's contract names).
        prices: token address → USD price source (the plan's ``analysis.prices``); the
            transferred tokens are priced at the transaction's block.

    Raises:
        AnalysisError: the transaction or its receipt is unknown, or it cannot be traced.
    """
    tx_hash = tx_hash.lower()
    tx, receipt = await pool.batch(
        [("eth_getTransactionByHash", [tx_hash]), ("eth_getTransactionReceipt", [tx_hash])]
    )
    if not isinstance(tx, Mapping) or not isinstance(receipt, Mapping):
        raise AnalysisError(f"transaction {tx_hash} is unknown or not mined yet")
    try:
        raw_trace, block = await asyncio.gather(
            pool.request("debug_traceTransaction", [tx_hash, CALL_TRACER]),
            pool.request("eth_getBlockByNumber", [receipt["blockNumber"], False]),
        )
    except _ChainError as exc:
        raise AnalysisError(f"cannot trace {tx_hash}: {exc}") from None
    if not isinstance(raw_trace, Mapping):
        raise AnalysisError(f"the node gave no call trace for {tx_hash}")
    prestate = await _prestate(pool, tx_hash)

    receipt_logs: list[Mapping[str, Any]] = list(receipt.get("logs") or ())
    root = _build_tree(raw_trace, _Decoder(abis), receipt_logs)
    transfers = _ordered(
        [*_token_transfers(receipt_logs, _log_seqs(root)), *_native_transfers(root)]
    )
    changes = _balance_changes(transfers)
    sender = str(tx["from"]).lower()
    gas_used = _int(receipt.get("gasUsed"))
    price = _int(receipt.get("effectiveGasPrice") or tx.get("gasPrice"))
    base_fee = _int((block or {}).get("baseFeePerGas"))
    coinbase = str((block or {}).get("miner") or "").lower()
    if isinstance(prestate, str):
        check = NativeCheck(ok=False, gas_fee=gas_used * price, coinbase=coinbase, note=prestate)
    else:
        check = _check_native(
            changes,
            prestate,
            sender=sender,
            gas_fee=gas_used * price,
            priority_fee=gas_used * max(price - base_fee, 0),
            coinbase=coinbase,
        )
    to = tx.get("to") or receipt.get("contractAddress")
    block_number = _int(receipt["blockNumber"])
    priced: dict[str, Price] = {}
    if prices:
        from breakglass.analysis.pricing import read_prices  # noqa: PLC0415

        configs = {a.lower(): p for a, p in prices.items()}
        assets = {t.asset for t in transfers if t.asset != NATIVE}
        try:
            priced = await read_prices(pool, configs, assets, block_number)
        except _ChainError as exc:
            raise AnalysisError(f"cannot read prices at block {block_number}: {exc}") from None
    return TxAnalysis(
        tx_hash=tx_hash,
        block_number=block_number,
        status=_int(receipt.get("status")),
        sender=sender,
        to=str(to).lower() if to else None,
        value=_int(tx.get("value")),
        gas_used=gas_used,
        calls=root,
        transfers=transfers,
        balance_changes=changes,
        flash=_find_flash_loans(root, transfers),
        native_check=check,
        labels={a.lower(): n for a, n in (labels or {}).items()},
        prices=priced,
    )


def plan_chain(loaded: LoadedPlan, chain: str | None) -> str:
    """The plan chain to use: ``chain`` when given, else the plan's only chain.

    Raises:
        PlanError: no such chain, or several and none chosen.
    """
    known = sorted(loaded.plan.chains)
    if chain is None:
        if len(known) == 1:
            return known[0]
        raise _PlanError(
            f"the plan has several chains; choose one with --chain ({', '.join(known)})"
        )
    if chain not in loaded.plan.chains:
        raise _PlanError(f"the plan has no chain {chain!r} (chains: {', '.join(known) or 'none'})")
    return chain


def plan_contracts(
    loaded: LoadedPlan, chain: str
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """(address → ABI, address → name) of the plan's contracts on ``chain``.

    Raises:
        ConfigError: an ABI file cannot be read or holds no ABI.
    """
    abis: dict[str, list[dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    for name, contract in loaded.plan.contracts.items():
        if contract.chain != chain:
            continue
        address = str(contract.address).lower()
        labels[address] = name
        if contract.abi is None:
            continue
        path = contract.abi if contract.abi.is_absolute() else loaded.base_dir / contract.abi
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise _ConfigError(f"contract {name}: cannot read ABI {path}: {exc}") from None
        abi = data.get("abi") if isinstance(data, dict) else data  # build artefacts wrap it
        if not isinstance(abi, list) or not all(isinstance(e, dict) for e in abi):
            raise _ConfigError(f"contract {name}: {path} holds no JSON ABI list")
        abis[address] = abi
    return abis, labels


async def analyze_plan_tx(
    loaded: LoadedPlan, tx_hash: str, *, chain: str | None = None
) -> TxAnalysis:
    """:func:`analyze_tx` on the plan's chain RPC, with the plan's ABIs, contract names and
    ``analysis.prices``.

    Raises:
        PlanError: unknown chain, or several and none chosen.
        ConfigError: an unreadable ABI or an unset environment variable in an RPC URL.
        AnalysisError: see :func:`analyze_tx`.
    """
    from breakglass.chain.endpoints import plan_endpoints  # noqa: PLC0415 - keeps imports light
    from breakglass.chain.pool import EndpointPool  # noqa: PLC0415

    name = plan_chain(loaded, chain)
    abis, labels = plan_contracts(loaded, name)
    pool = EndpointPool(plan_endpoints(loaded.plan.chains[name], prefer_ws=False), chain=name)
    try:
        from breakglass.analysis.pricing import plan_prices  # noqa: PLC0415

        prices = plan_prices(loaded.plan)
        return await analyze_tx(pool, tx_hash, abis=abis, labels=labels, prices=prices)
    finally:
        await pool.aclose()
