"""A private key that signs EIP-1559 transactions and hashes, without eth-account.

eth-account signs exactly like this (with the same eth-keys backend, RFC 6979 deterministic
signatures, so the bytes are identical; a test holds them equal), but importing it imports
eth-keyfile and through it py_ecc's BLS12-381 pairing tables, computed at import: about 0.4 s
of CPU before a break-glass ``pause`` can sign anything. Only keystore decryption needs
eth-account, and it is imported there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import rlp  # type: ignore[import-untyped]
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError
from hexbytes import HexBytes

__all__ = ["KeyAccount", "SignedHash", "SignedTx", "TxSigner"]

_TX_FIELDS = frozenset(
    {
        "type",
        "chainId",
        "nonce",
        "to",
        "value",
        "data",
        "gas",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
    }
)
_EIP1559 = b"\x02"
_V_OFFSET = 27  # Ethereum's legacy v of a bare hash signature: 27 or 28


class SignedTx(NamedTuple):
    """A signed transaction: its raw bytes for ``eth_sendRawTransaction`` and its hash."""

    raw_transaction: bytes
    hash: HexBytes


class SignedHash(NamedTuple):
    """A 65-byte ``r ‖ s ‖ v`` signature (v 27/28) over a bare 32-byte hash."""

    signature: bytes


class _Signed(Protocol):
    @property
    def raw_transaction(self) -> bytes: ...

    @property
    def hash(self) -> HexBytes: ...


class TxSigner(Protocol):
    """What the sender needs of a key: its address and EIP-1559 signing (eth-account's
    ``LocalAccount`` fits too)."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, transaction_dict: dict[str, Any]) -> _Signed: ...


class KeyAccount:
    """An account from its private key; the key never appears in ``repr`` or ``str``."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: str) -> None:
        """Raises:
        ValueError: ``private_key`` is not 32 bytes of hex, or not a valid secp256k1 key.
        """
        try:
            raw = bytes.fromhex(private_key.removeprefix("0x").removeprefix("0X"))
        except ValueError:
            raise ValueError("a private key is 32 bytes of hex") from None
        if len(raw) != 32:
            raise ValueError("a private key is 32 bytes of hex")
        try:
            self._key = PrivateKey(raw)
        except ValidationError:
            raise ValueError("not a valid secp256k1 private key") from None
        self.address: str = self._key.public_key.to_checksum_address()

    def __repr__(self) -> str:
        return f"KeyAccount({self.address})"

    @property
    def key(self) -> HexBytes:
        """The private key, as eth-account's ``LocalAccount.key`` gives it."""
        return HexBytes(self._key.to_bytes())

    def sign_transaction(self, transaction_dict: Mapping[str, Any]) -> SignedTx:
        """Sign an EIP-1559 (type 2) transaction without an access list.

        Raises:
            ValueError: another type, an unknown field, or a field missing.
        """
        tx = transaction_dict
        if tx.get("type") != 2 or set(tx) - _TX_FIELDS or len(tx) != len(_TX_FIELDS):
            raise ValueError(f"only complete EIP-1559 transactions are signed here: {sorted(tx)}")
        data = tx["data"]
        fields = [
            tx["chainId"],
            tx["nonce"],
            tx["maxPriorityFeePerGas"],
            tx["maxFeePerGas"],
            tx["gas"],
            bytes.fromhex(str(tx["to"]).removeprefix("0x")),
            tx["value"],
            bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data),
            [],  # access list
        ]
        signature = self._key.sign_msg_hash(keccak(_EIP1559 + rlp.encode(fields)))
        raw = _EIP1559 + rlp.encode([*fields, signature.v, signature.r, signature.s])
        return SignedTx(raw, HexBytes(keccak(raw)))

    def unsafe_sign_hash(self, message_hash: bytes) -> SignedHash:
        """Sign a bare 32-byte hash (e.g. a Safe transaction's EIP-712 hash)."""
        signature = self._key.sign_msg_hash(bytes(message_hash))
        return SignedHash(signature.to_bytes()[:64] + bytes([signature.v + _V_OFFSET]))
