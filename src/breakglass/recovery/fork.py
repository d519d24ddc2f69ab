"""A local anvil fork of the incident's chain, driven by impersonation.

Every transaction on the fork is sent from the account that sent it on the real chain (or
that owns the contract being configured), without its key: anvil impersonates it. The fork
mines one transaction per block, so the balances at a transaction's block and the block
before are exactly its effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from breakglass.devchain import Anvil
from breakglass.errors import ChainError, DevchainError
from breakglass.recovery.fixspec import FixError

__all__ = [
    "ETH",
    "Fork",
    "Receipt",
    "RemoteChain",
    "encode_args",
    "encode_call",
]

ETH = "eth"
"""The asset name of the chain's native currency in balance changes."""

_GAS = 8_000_000
_JSON = {"content-type": "application/json"}
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]


def _coerce(abi_type: str, value: Any) -> Any:
    if abi_type.startswith(("uint", "int")) and isinstance(value, str):
        return int(value, 0)
    if abi_type == "bool" and isinstance(value, str):
        return value.lower() == "true"
    if abi_type.startswith("bytes") and isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return value


def encode_args(types: Sequence[str], args: Sequence[Any]) -> bytes:
    """ABI-encode ``args`` (YAML values: numbers may be strings) as ``types``.

    Raises:
        FixError: the count or a value does not fit its type.
    """
    if len(types) != len(args):
        raise FixError(f"{len(args)} argument(s) for ({','.join(types)})")
    try:
        return encode(list(types), [_coerce(t, a) for t, a in zip(types, args, strict=True)])
    except (TypeError, ValueError, OverflowError) as exc:
        raise FixError(f"arguments {list(args)!r} do not fit ({','.join(types)}): {exc}") from None


def encode_call(signature: str, args: Sequence[Any]) -> str:
    """``0x`` calldata of ``signature`` (``name(type,…)``) with ``args``."""
    if "(" not in signature or not signature.endswith(")"):
        raise FixError(f"{signature!r} is not a function signature such as `pause()`")
    inner = signature[signature.index("(") + 1 : -1]
    types = [t.strip() for t in inner.split(",") if t.strip()]
    return "0x" + (keccak(text=signature.replace(" ", ""))[:4] + encode_args(types, args)).hex()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one transaction did on the fork."""

    tx_hash: str
    block: int
    success: bool
    contract: str | None
    logs: list[dict[str, Any]]


class RemoteChain:
    """Reads from the incident's chain. Its URL may carry an API key: it never appears in
    an error or a report."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout)

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        try:
            answer = orjson.loads(
                self._client.post(self._url, content=orjson.dumps(payload), headers=_JSON).content
            )
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            raise ChainError(
                f"{method} on the incident's chain failed: {type(exc).__name__}"
            ) from None
        if not isinstance(answer, dict) or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise ChainError(f"{method} on the incident's chain returned an error: {error}")
        return answer["result"]

    def close(self) -> None:
        self._client.close()


class Fork:
    """An anvil fork at one block of a remote chain. Stop it with :meth:`stop`."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil

    @classmethod
    def start(cls, url: str, *, block: int, chain_id: int) -> Fork:
        """Fork ``url`` at ``block``.

        Raises:
            DevchainError: anvil is missing or could not fork (the URL is not shown).
        """
        try:
            anvil = Anvil.start(
                chain_id=chain_id,
                fork_url=url,
                extra_args=["--fork-block-number", str(block), "--no-storage-caching"],
            )
        except DevchainError as exc:
            text = str(exc).replace(url, "<rpc>")
            raise DevchainError(
                f"cannot fork the incident's chain at block {block}: {text}"
            ) from None
        return cls(anvil)

    def stop(self) -> None:
        self.anvil.stop()

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        return self.anvil.rpc(method, params)

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot: str) -> None:
        if not self.rpc("evm_revert", [snapshot]):
            raise DevchainError(f"the fork could not revert to snapshot {snapshot}")

    def call(self, to: str, data: str, block: str | int = "latest") -> str | None:
        """``eth_call`` result, or ``None`` when it reverts."""
        tag = hex(block) if isinstance(block, int) else block
        try:
            return str(self.rpc("eth_call", [{"to": to, "data": data}, tag]))
        except DevchainError:
            return None

    def storage(self, address: str, slot: int, block: str = "latest") -> str:
        return str(self.rpc("eth_getStorageAt", [address, hex(slot), block]))

    def code(self, address: str) -> str:
        return str(self.rpc("eth_getCode", [address, "latest"]))

    def send(
        self, sender: str, data: str, *, to: str | None = None, value: int = 0, gas: int = _GAS
    ) -> Receipt:
        """Send as ``sender`` (impersonated) and mine it."""
        tx: dict[str, Any] = {"from": sender, "data": data, "value": hex(value), "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        self.rpc("anvil_impersonateAccount", [sender])
        if not self._funded(sender):
            self.rpc("anvil_setBalance", [sender, hex(10**24)])
        try:
            tx_hash = str(self.rpc("eth_sendTransaction", [tx]))
        finally:
            self.rpc("anvil_stopImpersonatingAccount", [sender])
        receipt = None
        for _ in range(100):
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            self.rpc("evm_mine")
        if receipt is None:
            raise DevchainError(f"{tx_hash} was not mined on the fork")
        contract = receipt.get("contractAddress")
        return Receipt(
            tx_hash=tx_hash,
            block=int(receipt["blockNumber"], 16),
            success=receipt["status"] == "0x1",
            contract=str(contract).lower() if contract else None,
            logs=list(receipt.get("logs") or []),
        )

    def _funded(self, account: str) -> bool:
        # Gas must not decide a replay: an account too poor to pay for it on the fork gets ether.
        return int(self.rpc("eth_getBalance", [account, "latest"]), 16) >= 10**21

    def balances(
        self, parties: Iterable[str], assets: Iterable[str], block: int
    ) -> dict[tuple[str, str], int]:
        """Balance of every party in every asset (``eth`` or a token) at ``block``."""
        tag = hex(block)
        found: dict[tuple[str, str], int] = {}
        for party in parties:
            for asset in assets:
                if asset == ETH:
                    found[(party, asset)] = int(self.rpc("eth_getBalance", [party, tag]), 16)
                    continue
                data = "0x" + (_BALANCE_OF + encode(["address"], [party])).hex()
                raw = self.call(asset, data, block)
                found[(party, asset)] = (
                    decode(["uint256"], bytes.fromhex(raw[2:]))[0] if raw and len(raw) >= 66 else 0
                )
        return found
