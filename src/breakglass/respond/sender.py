"""Signing, broadcasting and landing transactions: replacement by fee bump, cancel, receipts.

A :class:`PreparedTx` is signed ahead of time (a pre-signed emergency transaction) and broadcast
when needed. :meth:`TxSender.wait` re-signs the same nonce with fees bumped by at least 12.5%
whenever a transaction sits unmined for ``replace_after`` seconds, and returns the receipt of
whichever version got mined. The private key never reaches a log line, an error or a repr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn

import structlog

from breakglass.chain.errors import RpcError
from breakglass.errors import ChainError
from breakglass.respond.gas import Fees, GasCapError, GasStrategy, Urgency, affordable
from breakglass.respond.nonces import NonceManager, Rpc
from breakglass.respond.signers.keys import TxSigner

__all__ = [
    "PreparedTx",
    "Receipt",
    "SendError",
    "SendGuard",
    "TxReverted",
    "TxSender",
    "TxTimeout",
    "already_known",
    "broadcast_via",
    "send_guard",
]

_log = structlog.get_logger("breakglass.respond")
_GAS_MARGIN = (6, 5)  # eth_estimateGas x 1.2
_TRANSFER_GAS = 21_000
_CONSUMED_POLLS = 3


broadcast_via: ContextVar[Rpc | None] = ContextVar("broadcast_via", default=None)
"""Where raw transactions go instead of the chain's RPC: a private-transaction endpoint set
by mempool pre-execution around a reaction (tasks started inside inherit it)."""

SendGuard = Callable[[str, "PreparedTx"], Awaitable[None]]
send_guard: ContextVar[SendGuard | None] = ContextVar("send_guard", default=None)
"""Awaited with the sender's address and the transaction before every broadcast (a
replacement too); raises :class:`SendError` to send nothing. Scale-out mode sets it around a
playbook run: the signer's lease must still be held and the effect's key claimed by this
replica (``breakglass.cluster.guard``)."""


class SendError(ChainError):
    """A transaction could not be prepared or broadcast."""


class TxTimeout(ChainError):
    """No version of the transaction was mined in time; ``hashes`` were all sent."""

    def __init__(self, nonce: int, hashes: list[str], timeout: float) -> None:
        self.nonce = nonce
        self.hashes = tuple(hashes)
        super().__init__(f"nonce {nonce}: none of {list(hashes)} mined within {timeout}s")


class _Send(enum.Enum):
    NONCE_TOO_LOW = "nonce too low"
    KNOWN = "already known"
    UNDERPRICED = "underpriced"
    INSUFFICIENT_FUNDS = "insufficient funds"


def _classify(error: RpcError) -> _Send | None:
    text = error.message.lower()
    if "insufficient funds" in text:
        return _Send.INSUFFICIENT_FUNDS
    if "nonce too low" in text or "nonce is too low" in text:
        return _Send.NONCE_TOO_LOW
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return _Send.KNOWN
    return _Send.UNDERPRICED if "underpriced" in text else None


def already_known(error: RpcError) -> bool:
    """Whether the node refused a raw transaction because its pool holds it already: a
    rebroadcast of a transaction still pending (scale-out's takeover of a claimed send)."""
    return _classify(error) is _Send.KNOWN


@dataclass(frozen=True)
class PreparedTx:
    """A signed EIP-1559 transaction, ready to broadcast now or later."""

    to: str
    data: bytes = field(repr=False)
    value: int
    nonce: int
    gas_limit: int
    fees: Fees
    urgency: Urgency
    chain_id: int
    raw: bytes = field(repr=False)
    tx_hash: str


@dataclass(frozen=True)
class Receipt:
    """The parts of a transaction receipt breakglass uses; ``raw`` is the node's answer."""

    tx_hash: str
    nonce: int
    block_number: int
    status: int
    gas_used: int
    effective_gas_price: int
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_rpc(cls, raw: dict[str, Any], nonce: int) -> Receipt:
        """Parse an ``eth_getTransactionReceipt`` result."""
        return cls(
            tx_hash=raw["transactionHash"],
            nonce=nonce,
            block_number=int(raw["blockNumber"], 16),
            status=int(raw.get("status") or "0x0", 16),
            gas_used=int(raw["gasUsed"], 16),
            effective_gas_price=int(raw.get("effectiveGasPrice") or "0x0", 16),
            raw=raw,
        )


class TxReverted(ChainError):
    """The transaction was mined but reverted (status 0); ``receipt`` says where."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        super().__init__(f"tx {receipt.tx_hash} (nonce {receipt.nonce}) reverted")


@dataclass
class _Flight:
    latest: PreparedTx
    hashes: list[str] = field(default_factory=list)
    consumed_polls: int | None = None  # polls since the node said the nonce is used


class TxSender:
    """Sends transactions from ``account`` on ``chain_id`` through ``rpc``."""

    def __init__(
        self,
        rpc: Rpc,
        account: TxSigner,
        chain_id: int,
        nonces: NonceManager,
        gas: GasStrategy,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self._rpc = rpc
        self._account = account
        self.address: str = account.address
        self.chain_id = chain_id
        self.nonces = nonces
        self.gas = gas
        self.poll_interval = poll_interval
        self._flights: dict[int, _Flight] = {}

    def __repr__(self) -> str:
        return f"TxSender({self.address}, chain_id={self.chain_id})"

    def hashes(self, nonce: int) -> list[str]:
        """Every hash broadcast for ``nonce`` still being tracked, oldest first."""
        flight = self._flights.get(nonce)
        return list(flight.hashes) if flight else []

    async def prepare(
        self,
        to: str,
        data: bytes,
        value: int = 0,
        *,
        urgency: Urgency,
        gas_limit: int | None = None,
        fees: Fees | None = None,
    ) -> PreparedTx:
        """Reserve a nonce, price, estimate (x1.2 unless ``gas_limit``) and sign; not sent yet.

        Raises:
            SendError: gas estimation failed (e.g. the call reverts).
        """
        if gas_limit is None:
            gas_limit = await self._estimate(to, data, value)
        fees = fees or await self.gas.fees(urgency)
        nonce = await self.nonces.reserve()
        return await self._sign(to, data, value, nonce, gas_limit, fees, urgency)

    async def discard(self, prepared: PreparedTx) -> None:
        """Give the nonce of a never-broadcast ``prepared`` back to the manager."""
        if prepared.nonce in self._flights:
            _log.warning("respond.discard_broadcast", nonce=prepared.nonce, tx=prepared.tx_hash)
            return
        self.nonces.release(prepared.nonce)

    async def broadcast(self, prepared: PreparedTx) -> str:
        """Send ``prepared``; returns the hash that went out (it differs after a re-nonce).

        "Already known" is success. "Nonce too low" resyncs and re-signs with a fresh nonce
        once; "replacement underpriced" does the same when another transaction holds the nonce,
        any other "underpriced" re-signs with bumped fees once.

        Raises:
            SendError: the node refused the transaction.
            GasCapError: the caps block the bump an underpriced transaction needs.
        """
        try:
            return await self._send(prepared)
        except RpcError as exc:
            retry = await self._retry_for(prepared, exc)
        except SendError:  # refused by the guard: the nonce was never used
            if prepared.nonce not in self._flights:
                self.nonces.release(prepared.nonce)
            raise
        try:
            return await self._send(retry)
        except RpcError as exc:
            self._refused(retry, exc)

    async def _retry_for(self, tx: PreparedTx, exc: RpcError) -> PreparedTx:
        kind = _classify(exc)
        if kind is None:
            self._refused(tx, exc)
        _log.warning("respond.send_retry", tx=tx.tx_hash, nonce=tx.nonce, reason=exc.message)
        ours = tx.nonce in self._flights
        if kind is _Send.INSUFFICIENT_FUNDS:
            return await self._within_balance(tx, exc)
        if kind is _Send.UNDERPRICED and (ours or "replacement" not in exc.message.lower()):
            try:
                fees = self.gas.bump(tx.fees).at_least(await self._market(tx))
                return await self._resign(tx, fees)
            except GasCapError:
                if not ours:
                    self.nonces.release(tx.nonce)
                raise
        return await self._renonce(tx)  # another transaction holds the nonce

    async def wait(
        self, sent: str | PreparedTx, *, timeout: float, replace_after: float, max_bumps: int = 3
    ) -> Receipt:
        """Poll until some version of ``sent``'s nonce is mined, bumping every ``replace_after``.

        Raises:
            TxReverted: mined with status 0.
            TxTimeout: nothing mined within ``timeout`` seconds.
            SendError: another transaction used the nonce.
        """
        flight = self._flight_of(sent)
        loop = asyncio.get_running_loop()
        deadline, next_bump, bumps = loop.time() + timeout, loop.time() + replace_after, 0
        while True:
            receipt = await self._poll(flight)
            if receipt is not None:
                return self._finish(flight, receipt)
            self._check_consumed(flight)
            now = loop.time()
            if now >= deadline:
                raise TxTimeout(flight.latest.nonce, flight.hashes, timeout)
            if now >= next_bump and bumps < max_bumps and flight.consumed_polls is None:
                bumps, next_bump = bumps + 1, now + replace_after
                await self._replace_bumped(flight)
            await asyncio.sleep(max(0.0, min(self.poll_interval, deadline - now)))

    async def cancel(self, nonce: int) -> str:
        """Replace whatever holds ``nonce`` with a 0-value self-transfer at bumped fees.

        :meth:`wait` on any earlier hash of the nonce then returns whichever version is mined.

        Raises:
            SendError: the node refused the cancel (e.g. the nonce is already mined).
            GasCapError: the caps block the 12.5% bump.
        """
        flight = self._flights.get(nonce)
        urgency = Urgency.EMERGENCY
        fees = await self.gas.fees(urgency)
        if flight is not None:
            fees = self.gas.bump(flight.latest.fees).at_least(fees)
        tx = await self._sign(self.address, b"", 0, nonce, _TRANSFER_GAS, fees, urgency)
        _log.warning("respond.cancel", nonce=nonce, replaces=self.hashes(nonce))
        try:
            return await self._send(tx)
        except RpcError as exc:
            self._refused(tx, exc)

    async def _estimate(self, to: str, data: bytes, value: int) -> int:
        call = {"from": self.address, "to": to, "data": "0x" + data.hex(), "value": hex(value)}
        try:
            estimate = int(await self._rpc.request("eth_estimateGas", [call]), 16)
        except RpcError as exc:
            raise SendError(f"gas estimation for {to} failed: {exc.message}") from exc
        return -(-estimate * _GAS_MARGIN[0] // _GAS_MARGIN[1])

    async def _sign(
        self, to: str, data: bytes, value: int, nonce: int, gas: int, fees: Fees, urgency: Urgency
    ) -> PreparedTx:
        tx: dict[str, Any] = dict(
            type=2, chainId=self.chain_id, nonce=nonce, to=to, value=value, data=data, gas=gas,
            maxFeePerGas=fees.max_fee_per_gas, maxPriorityFeePerGas=fees.max_priority_fee_per_gas,
        )  # fmt: skip
        # A remote signer answers over the network: it signs without holding the event loop
        # (heads, other chains, other sends go on). A local key signs in place, in microseconds.
        remote = getattr(self._account, "sign_transaction_async", None)
        signed = await remote(tx) if remote is not None else self._account.sign_transaction(tx)
        raw, tx_hash = bytes(signed.raw_transaction), signed.hash.to_0x_hex()
        return PreparedTx(to, data, value, nonce, gas, fees, urgency, self.chain_id, raw, tx_hash)

    async def _resign(self, tx: PreparedTx, fees: Fees, nonce: int | None = None) -> PreparedTx:
        nonce = tx.nonce if nonce is None else nonce
        return await self._sign(tx.to, tx.data, tx.value, nonce, tx.gas_limit, fees, tx.urgency)

    async def _within_balance(self, tx: PreparedTx, exc: RpcError) -> PreparedTx:
        # The node wants value + gas limit x max fee up front; an inflated market bid can ask
        # for more than the key holds while base fee + tip would fit. Bid all it can afford.
        balance = int(await self._rpc.request("eth_getBalance", [self.address, "latest"]), 16)
        fees = affordable(tx.fees, balance=balance, gas_limit=tx.gas_limit, value=tx.value)
        if fees is None or fees == tx.fees:
            self._refused(tx, exc)
        _log.warning(
            "respond.fees_cut_to_balance",
            tx=tx.tx_hash,
            nonce=tx.nonce,
            balance=balance,
            wanted_max_fee=tx.fees.max_fee_per_gas,
            max_fee=fees.max_fee_per_gas,
        )
        return await self._resign(tx, fees)

    async def _renonce(self, tx: PreparedTx) -> PreparedTx:
        self.nonces.mined(tx.nonce)  # someone else's transaction holds it
        await self.nonces.sync()
        return await self._resign(tx, tx.fees, await self.nonces.reserve())

    async def _market(self, tx: PreparedTx) -> Fees:
        return self.gas.cached(tx.urgency) or await self.gas.quote(tx.urgency)

    async def _send(self, tx: PreparedTx) -> str:
        guard = send_guard.get()
        if guard is not None:
            await guard(self.address, tx)
        fees = dataclasses.asdict(tx.fees)
        try:
            via = broadcast_via.get() or self._rpc
            await via.request("eth_sendRawTransaction", ["0x" + tx.raw.hex()])
        except RpcError as exc:
            if _classify(exc) is not _Send.KNOWN:
                raise
        flight = self._flights.setdefault(tx.nonce, _Flight(tx))
        flight.latest = tx
        if tx.tx_hash not in flight.hashes:
            flight.hashes.append(tx.tx_hash)
        _log.info("respond.tx_sent", tx=tx.tx_hash, nonce=tx.nonce, to=tx.to, **fees)
        return tx.tx_hash

    def _refused(self, tx: PreparedTx, exc: RpcError) -> NoReturn:
        _log.error("respond.tx_refused", tx=tx.tx_hash, nonce=tx.nonce, reason=exc.message)
        if tx.nonce not in self._flights:
            self.nonces.release(tx.nonce)
        raise SendError(f"nonce {tx.nonce}: node refused {tx.tx_hash}: {exc.message}") from exc

    def _flight_of(self, sent: str | PreparedTx) -> _Flight:
        tx_hash = sent if isinstance(sent, str) else sent.tx_hash
        for flight in self._flights.values():
            if tx_hash in flight.hashes:
                return flight
        raise SendError(f"{tx_hash} was not broadcast by this sender")

    async def _replace_bumped(self, flight: _Flight) -> None:
        try:
            # A replacement waited replace_after seconds already: price it on a fresh quote.
            fees = self.gas.bump(flight.latest.fees).at_least(
                await self.gas.quote(flight.latest.urgency)
            )
        except GasCapError as exc:
            _log.error("respond.replace_capped", nonce=flight.latest.nonce, reason=str(exc))
            return
        await self._replace(flight, await self._resign(flight.latest, fees))

    async def _replace(self, flight: _Flight, tx: PreparedTx) -> None:
        try:
            await self._send(tx)
        except RpcError as exc:
            if _classify(exc) is _Send.NONCE_TOO_LOW:
                flight.consumed_polls = 0  # mined meanwhile, or someone else used the nonce
            _log.warning("respond.replace_failed", nonce=tx.nonce, tx=tx.tx_hash, reason=str(exc))

    async def _poll(self, flight: _Flight) -> Receipt | None:
        calls = [("eth_getTransactionReceipt", [h]) for h in flight.hashes]
        for raw in await self._rpc.batch(calls):
            if raw is not None and raw.get("blockNumber"):
                return Receipt.from_rpc(raw, flight.latest.nonce)
        return None

    def _check_consumed(self, flight: _Flight) -> None:
        if flight.consumed_polls is None:
            return
        flight.consumed_polls += 1
        if flight.consumed_polls > _CONSUMED_POLLS:
            self._flights.pop(flight.latest.nonce, None)
            self.nonces.mined(flight.latest.nonce)
            raise SendError(f"nonce {flight.latest.nonce} was used by another transaction")

    def _finish(self, flight: _Flight, receipt: Receipt) -> Receipt:
        self._flights.pop(receipt.nonce, None)
        self.nonces.mined(receipt.nonce)
        replaced = [h for h in flight.hashes if h != receipt.tx_hash]
        log = _log.info if receipt.status == 1 else _log.error
        log(
            "respond.tx_mined",
            tx=receipt.tx_hash,
            nonce=receipt.nonce,
            status=receipt.status,
            block=receipt.block_number,
            replaced=replaced,
            gas_price=receipt.effective_gas_price,
        )
        if receipt.status != 1:
            raise TxReverted(receipt)
        return receipt
