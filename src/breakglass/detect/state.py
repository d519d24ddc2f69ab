"""Contract state read each block: view calls batched into one JSON-RPC round trip.

Rules name the views they need as :class:`StateCall`s; the monitor reads all of them at the
block's hash in one batch (:class:`StateReader`) and hands the results to the detector. A
call that reverts reads as ``None`` rather than failing the batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import default_codec
from eth_utils.crypto import keccak

from breakglass.chain.errors import RpcError
from breakglass.chain.pool import EndpointPool
from breakglass.errors import ConfigError

__all__ = ["StateCall", "StateReader", "StorageRead"]

_SIGNATURE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)\)$")


@dataclass(frozen=True, slots=True)
class StateCall:
    """``address.signature(args)`` returning ``returns`` (ABI types), e.g. ``("uint256",)``."""

    address: str
    signature: str
    args: tuple[Any, ...] = ()
    returns: tuple[str, ...] = ("uint256",)
    _arg_types: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        match = _SIGNATURE.match(self.signature.replace(" ", ""))
        if match is None:
            raise ConfigError(f"not a function signature: {self.signature!r}")
        types = tuple(t for t in match.group(2).split(",") if t)
        if len(types) != len(self.args):
            raise ConfigError(
                f"{self.signature} takes {len(types)} arguments, got {len(self.args)}"
            )
        object.__setattr__(self, "_arg_types", types)
        object.__setattr__(self, "address", self.address.lower())

    def calldata(self) -> str:
        selector = keccak(text=self.signature.replace(" ", ""))[:4]
        return "0x" + (selector + default_codec.encode(self._arg_types, self.args)).hex()

    def decode(self, raw: str) -> Any:
        """The returned value (a single value when one type is returned)."""
        values = default_codec.decode(self.returns, bytes.fromhex(raw.removeprefix("0x")))
        return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True, slots=True, init=False)
class StorageRead(StateCall):
    """The 32-byte storage word at ``slot`` of ``address``, read with ``eth_getStorageAt``
    in the same batch as the view calls and decoded as a ``uint256``."""

    slot: int = 0

    def __init__(self, address: str, slot: int) -> None:
        object.__setattr__(self, "address", address.lower())
        object.__setattr__(self, "signature", f"storage[{slot:#x}]")
        object.__setattr__(self, "args", ())
        object.__setattr__(self, "returns", ("uint256",))
        object.__setattr__(self, "_arg_types", ())
        object.__setattr__(self, "slot", slot)

    def request(self, block: Mapping[str, str]) -> tuple[str, list[Any]]:
        return "eth_getStorageAt", [self.address, f"{self.slot:#x}", block]


def _request(call: StateCall, block: Mapping[str, str]) -> tuple[str, list[Any]]:
    if isinstance(call, StorageRead):
        return call.request(block)
    return "eth_call", [{"to": call.address, "data": call.calldata()}, block]


@dataclass
class StateReader:
    pool: EndpointPool

    async def read(self, block_hash: str, calls: Iterable[StateCall]) -> dict[StateCall, Any]:
        """Every call's result at ``block_hash``; ``None`` for a call that reverted or whose
        answer does not decode.

        Raises:
            ChainError: the endpoints failed.
        """
        unique = list(dict.fromkeys(calls))
        if not unique:
            return {}
        block = {"blockHash": block_hash}
        batch = [_request(call, block) for call in unique]
        try:
            raw = await self.pool.batch(batch)
        except RpcError:
            # One reverted call fails a batch; fall back to one request per call.
            raw = [await self._single(call, block) for call in unique]
        return {call: _decoded(call, value) for call, value in zip(unique, raw, strict=True)}

    async def _single(self, call: StateCall, block: Mapping[str, str]) -> Any:
        try:
            return await self.pool.request(*_request(call, block))
        except RpcError:
            return None


def _decoded(call: StateCall, raw: Any) -> Any:
    if not isinstance(raw, str) or raw in ("0x", ""):
        return None
    try:
        return call.decode(raw)
    except Exception:  # eth-abi raises many types for short or malformed data
        return None
