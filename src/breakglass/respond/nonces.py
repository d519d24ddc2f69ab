"""Local nonce bookkeeping for one sending key.

Once synced, :meth:`NonceManager.reserve` hands out nonces without a round trip, which matters
on the emergency path. :meth:`NonceManager.sync` reconciles with the chain's ``pending`` and
``latest`` transaction counts: a transaction sent from the same key outside breakglass moves the
local counter forward, and nonces the chain has mined are forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import structlog

__all__ = ["NonceManager", "Rpc"]

_log = structlog.get_logger("breakglass.respond")


class Rpc(Protocol):
    """The JSON-RPC surface the respond package needs (e.g. an ``EndpointPool``)."""

    async def request(self, method: str, params: Sequence[Any] = ...) -> Any:
        """Call ``method`` and return its result."""
        ...

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send ``calls`` as one batch; results in the same order."""
        ...


class NonceManager:
    """Hands out the nonces of ``address``; safe to share between concurrent tasks.

    A nonce is *in flight* from :meth:`reserve` until :meth:`mined` or :meth:`release`; an in-flight
    nonce is never handed out again (a replacement re-signs it explicitly instead).
    """

    def __init__(self, rpc: Rpc, address: str) -> None:
        self._rpc = rpc
        self.address = address
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self._in_flight: set[int] = set()
        self._released: set[int] = set()

    def __repr__(self) -> str:
        return (
            f"NonceManager({self.address}, next={self._next}, in_flight={sorted(self._in_flight)})"
        )

    @property
    def in_flight(self) -> frozenset[int]:
        """Nonces handed out and neither mined nor released."""
        return frozenset(self._in_flight)

    @property
    def synced(self) -> bool:
        """Whether the manager has seen the chain at least once."""
        return self._next is not None

    async def reserve(self) -> int:
        """The next free nonce; a round trip only before the first sync."""
        async with self._lock:
            if self._next is None:
                await self._sync_locked()
            assert self._next is not None
            if self._released:
                nonce = min(self._released)
                self._released.discard(nonce)
            else:
                nonce = self._next
                self._next += 1
            self._in_flight.add(nonce)
            _log.debug("respond.nonce_reserved", address=self.address, nonce=nonce)
            return nonce

    async def sync(self) -> int:
        """Reconcile with ``eth_getTransactionCount`` (``pending`` and ``latest``).

        Returns the next nonce the manager will hand out (released gaps aside).
        """
        async with self._lock:
            await self._sync_locked()
            assert self._next is not None
            return self._next

    async def _sync_locked(self) -> None:
        pending_hex, latest_hex = await self._rpc.batch(
            [
                ("eth_getTransactionCount", [self.address, "pending"]),
                ("eth_getTransactionCount", [self.address, "latest"]),
            ]
        )
        # No await below this line: the state changes in one step.
        self._apply(max(int(pending_hex, 16), int(latest_hex, 16)), int(latest_hex, 16))

    def _apply(self, chain_pending: int, chain_latest: int) -> None:
        before = self._next
        mined = {n for n in self._in_flight if n < chain_latest}
        self._in_flight -= mined
        # Gaps below the chain's pending count were filled by someone else.
        self._released = {n for n in self._released if n >= chain_pending}
        self._next = chain_pending if before is None else max(before, chain_pending)
        self._trim()
        if before is not None and chain_pending > before:
            _log.warning(
                "respond.nonce_jumped",
                address=self.address,
                local=before,
                chain_pending=chain_pending,
                reason="transactions sent outside breakglass from the same key",
            )
        _log.debug(
            "respond.nonce_synced",
            address=self.address,
            next=self._next,
            chain_pending=chain_pending,
            chain_latest=chain_latest,
            mined=sorted(mined),
        )

    def release(self, nonce: int) -> None:
        """Give back a nonce whose transaction was never broadcast; it is handed out next."""
        if nonce not in self._in_flight:
            return
        self._in_flight.discard(nonce)
        self._released.add(nonce)
        self._trim()
        _log.info("respond.nonce_released", address=self.address, nonce=nonce)

    def mined(self, nonce: int) -> None:
        """Record that ``nonce`` is used on chain (by our transaction or any other)."""
        self._in_flight.discard(nonce)
        self._released.discard(nonce)

    def _trim(self) -> None:
        # Released nonces at the top need no gap bookkeeping: just lower the counter.
        while self._next is not None and self._next - 1 in self._released:
            self._released.discard(self._next - 1)
            self._next -= 1
