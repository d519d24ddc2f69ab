"""Safe (Gnosis Safe) 1.4.1 multisig transactions: build, hash, sign, encode, exchange as JSON.

A pure library on top of safe-eth-py: :class:`SafeAccount` reads a Safe's state from a chain,
:class:`SafeTxData` is one Safe transaction with its EIP-712 ``safeTxHash``, and the caller sends
the ``execTransaction`` calldata that :meth:`SafeAccount.exec_calldata` returns. The JSON helpers
speak the Safe Transaction Service's shapes so signatures can be collected there or by hand.
Only ECDSA owner signatures (EIP-712 and ``eth_sign``) are supported; contract signatures and
pre-approved hashes cannot be checked off-chain and are rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

from eth_typing import URI, Hash32
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from breakglass.errors import ChainError
from breakglass.respond.signers.keys import KeyAccount

# safe-eth-py (and web3.py under it) take about a second to import: they are imported where a
# Safe is really used, so a key signer's break-glass pause does not wait for them.
if TYPE_CHECKING:
    from safe_eth.eth import EthereumClient
    from safe_eth.safe import SafeTx

__all__ = [
    "SafeAccount",
    "SafeError",
    "SafeJsonError",
    "SafeSignatureError",
    "SafeTxData",
    "from_service_json",
    "recover_signer",
    "sign_safe_tx",
    "to_service_json",
]

SAFE_VERSION = "1.4.1"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_SIGNATURE_LENGTH = 65
_UINT256 = 2**256
_T = TypeVar("_T")
_CALL_FIELDS = "to value data operation safe_tx_gas base_gas gas_price gas_token refund_receiver"
_SHOWN_LENGTH = 44  # longer input is not echoed: it might be a private key pasted by mistake


class SafeError(ChainError):
    """A Safe transaction could not be built, read or encoded."""


class SafeSignatureError(SafeError):
    """A Safe owner signature is malformed or does not recover to the expected owner."""


class SafeJsonError(SafeError):
    """A Safe Transaction Service JSON document is malformed or inconsistent."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_LENGTH else f"<{type(value).__name__} of {len(text)} chars>"


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _address(value: str, what: str) -> str:
    try:
        return str(to_checksum_address(value))
    except (ValueError, TypeError) as exc:
        raise SafeError(f"{what} is not an address: {_shown(value)}") from exc


@dataclass(frozen=True)
class SafeTxData:
    """One Safe transaction: everything needed to hash, sign and execute it."""

    chain_id: int
    safe: str
    to: str
    value: int
    data: bytes
    operation: int
    safe_tx_gas: int
    base_gas: int
    gas_price: int
    gas_token: str
    refund_receiver: str
    nonce: int

    def __post_init__(self) -> None:
        for name in ("safe", "to", "gas_token", "refund_receiver"):
            object.__setattr__(self, name, _address(getattr(self, name), name))
        if not isinstance(self.data, bytes | bytearray | memoryview):
            raise SafeError(f"data must be bytes, not {type(self.data).__name__}")
        object.__setattr__(self, "data", bytes(self.data))
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and (type(value) is not int or not 0 <= value < _UINT256):
                raise SafeError(f"{field.name} must be a uint256 integer, not {_shown(value)}")
        if self.operation not in (0, 1):
            raise SafeError(f"operation must be 0 (call) or 1 (delegatecall), not {self.operation}")

    def call_args(self) -> list[Any]:
        """``to`` to ``refundReceiver``, as ``getTransactionHash``/``execTransaction`` take them."""
        return [getattr(self, name) for name in _CALL_FIELDS.split()]

    def to_safe_tx(self, client: EthereumClient | None = None) -> SafeTx:
        """This transaction as a safe-eth-py ``SafeTx`` (``client`` is only needed to send it)."""
        from safe_eth.eth import EthereumClient  # noqa: PLC0415
        from safe_eth.safe import SafeTx  # noqa: PLC0415

        return SafeTx(
            cast(EthereumClient, client),  # hashing reads nothing: nonce, version, chain are given
            cast(Any, self.safe), cast(Any, self.to), self.value, self.data, self.operation,
            self.safe_tx_gas, self.base_gas, self.gas_price,
            cast(Any, self.gas_token), cast(Any, self.refund_receiver),
            safe_nonce=self.nonce, safe_version=SAFE_VERSION, chain_id=self.chain_id,
        )  # fmt: skip

    @property
    def safe_tx_hash(self) -> bytes:
        """The EIP-712 hash owners sign; equals the contract's ``getTransactionHash``."""
        return bytes(self.to_safe_tx().safe_tx_hash)


def sign_safe_tx(tx: SafeTxData, account: KeyAccount) -> bytes:
    """The 65-byte EIP-712 signature (``r ‖ s ‖ v``, v 27/28) of ``account`` over ``tx``."""
    return bytes(account.unsafe_sign_hash(Hash32(tx.safe_tx_hash)).signature)


def recover_signer(tx: SafeTxData, signature: bytes) -> str:
    """The checksum address whose key made ``signature`` over ``tx`` (EIP-712 or eth_sign).

    Raises :class:`SafeSignatureError` for anything else. Whether that address is an owner
    is for the caller to check against :meth:`SafeAccount.owners`.
    """
    if len(signature) != _SIGNATURE_LENGTH:
        raise SafeSignatureError(f"a signature is 65 bytes, got {len(signature)}")
    from safe_eth.safe.safe_signature import SafeSignature, SafeSignatureType  # noqa: PLC0415

    (parsed,) = SafeSignature.parse_signature(signature, tx.safe_tx_hash)
    if parsed.signature_type not in (SafeSignatureType.EOA, SafeSignatureType.ETH_SIGN):
        raise SafeSignatureError(
            f"signature with v={signature[-1]} is a {parsed.signature_type.name} signature; "
            "only ECDSA owner signatures (v 27/28/31/32) can be checked off-chain"
        )
    owner = str(parsed.owner)  # safe-eth-py gives the zero address when recovery fails
    if owner == ZERO_ADDRESS:
        raise SafeSignatureError(f"signature with v={signature[-1]} does not recover to an address")
    return owner


def _sorted_signatures(tx: SafeTxData, signatures: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """(owner, signature) sorted by owner as ``checkNSignatures`` requires, each verified."""
    checked = []
    for owner, signature in signatures.items():
        expected = _address(owner, "signature owner")
        signer = recover_signer(tx, signature)
        if signer != expected:
            raise SafeSignatureError(f"signature given for {expected} was made by {signer}")
        checked.append((expected, bytes(signature)))
    return sorted(checked, key=lambda pair: int(pair[0], 16))


class SafeAccount:
    """A deployed Safe read over JSON-RPC; builds transactions and ``execTransaction`` calldata."""

    def __init__(self, address: str, rpc_url: str) -> None:
        """Connect to the Safe at ``address`` through ``rpc_url`` (nothing is read yet)."""
        from safe_eth.eth import EthereumClient  # noqa: PLC0415
        from safe_eth.safe.safe import SafeV141  # noqa: PLC0415

        self.address = _address(address, "Safe address")
        self._client = EthereumClient(URI(rpc_url))
        self._safe = SafeV141(cast(Any, self.address), self._client)
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"SafeAccount({self.address!r})"

    def _read(self, what: str, call: Callable[[], _T]) -> _T:
        from web3.exceptions import Web3Exception  # noqa: PLC0415

        try:
            return call()
        except (Web3Exception, OSError, ValueError) as exc:
            raise SafeError(f"could not read {what} of Safe {self.address}: {exc}") from exc

    @property
    def chain_id(self) -> int:
        """The chain's id (read once)."""
        if self._chain_id is None:
            self._chain_id = self._read("chain id", self._client.get_chain_id)
        return self._chain_id

    def owners(self) -> list[str]:
        """The Safe's owners, as checksum addresses in the contract's order."""
        return [str(owner) for owner in self._read("owners", self._safe.retrieve_owners)]

    def threshold(self) -> int:
        """How many owner signatures a transaction needs."""
        return self._read("threshold", self._safe.retrieve_threshold)

    def nonce(self) -> int:
        """The nonce the next executed transaction must carry."""
        return self._read("nonce", self._safe.retrieve_nonce)

    def version(self) -> str:
        """The contract's ``VERSION()``, e.g. ``"1.4.1"``."""
        return self._read("version", self._safe.retrieve_version)

    def build(
        self, to: str, data: bytes, value: int = 0, operation: int = 0, nonce: int | None = None
    ) -> SafeTxData:
        """A transaction without gas refunds, at ``nonce`` (default: the current nonce)."""
        nonce = self.nonce() if nonce is None else nonce
        no_refund = (0, 0, 0, ZERO_ADDRESS, ZERO_ADDRESS)
        return SafeTxData(
            self.chain_id, self.address, to, value, data, operation, *no_refund, nonce
        )

    def exec_calldata(self, tx: SafeTxData, signatures: Mapping[str, bytes]) -> bytes:
        """``execTransaction`` calldata for ``tx`` with ``signatures`` (owner -> signature).

        Each signature must recover to its owner; they are concatenated in ascending owner order.
        """
        if (tx.safe, tx.chain_id) != (self.address, self.chain_id):
            raise SafeError(
                f"transaction is for Safe {tx.safe} on chain {tx.chain_id}, "
                f"not {self.address} on chain {self.chain_id}"
            )
        packed = b"".join(sig for _, sig in _sorted_signatures(tx, signatures))
        encoded = self._safe.contract.encode_abi("execTransaction", [*tx.call_args(), packed])
        return bytes(HexBytes(encoded))

    def is_executed(self, tx: SafeTxData) -> bool:
        """Whether the Safe's nonce has moved past ``tx.nonce`` (it or a rival was executed)."""
        return self.nonce() > tx.nonce


def to_service_json(
    tx: SafeTxData,
    signatures: Mapping[str, bytes],
    *,
    sender: str | None = None,
    origin: str = "breakglass",
) -> dict[str, Any]:
    """The body for ``POST /api/v1/safes/{safe}/multisig-transactions/`` of the Safe
    Transaction Service, plus ``safe``, ``chainId`` and ``confirmations`` so that
    :func:`from_service_json` gets everything back. ``sender`` defaults to the lowest signer.
    """
    ordered = _sorted_signatures(tx, signatures)
    if sender is None and not ordered:
        raise SafeError("a sender is needed when there are no signatures")
    return {
        "safe": tx.safe,
        "chainId": tx.chain_id,
        "to": tx.to,
        "value": str(tx.value),
        "data": _hex(tx.data) if tx.data else None,
        "operation": tx.operation,
        "safeTxGas": tx.safe_tx_gas,
        "baseGas": tx.base_gas,
        "gasPrice": tx.gas_price,
        "gasToken": tx.gas_token,
        "refundReceiver": tx.refund_receiver,
        "nonce": tx.nonce,
        "contractTransactionHash": _hex(tx.safe_tx_hash),
        "sender": _address(sender, "sender") if sender is not None else ordered[0][0],
        "signature": _hex(b"".join(s for _, s in ordered)) if ordered else None,
        "origin": origin,
        "confirmations": [{"owner": owner, "signature": _hex(sig)} for owner, sig in ordered],
    }


def _field(doc: Mapping[str, Any], key: str) -> Any:
    if doc.get(key) is None:
        raise SafeJsonError(f"field {key!r} is missing")
    return doc[key]


def _json_int(doc: Mapping[str, Any], key: str) -> int:
    value = _field(doc, key)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if type(value) is not int:
        raise SafeJsonError(
            f"field {key!r} must be an integer or a decimal string, not {_shown(value)}"
        )
    return value


def _json_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise SafeJsonError(f"{what} must be a 0x-prefixed hex string, not {_shown(value)}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise SafeJsonError(f"{what} is not valid hex: {_shown(value)}") from exc


def _json_chain_id(doc: Mapping[str, Any], chain_id: int | None) -> int:
    if doc.get("chainId") is None:
        if chain_id is None:
            raise SafeJsonError("field 'chainId' is missing; pass chain_id=")
        return chain_id
    found = _json_int(doc, "chainId")
    if chain_id is not None and found != chain_id:
        raise SafeJsonError(f"document is for chain {found}, expected chain {chain_id}")
    return found


def _json_tx(doc: Mapping[str, Any], chain_id: int | None) -> SafeTxData:
    data = doc.get("data")
    return SafeTxData(
        chain_id=_json_chain_id(doc, chain_id),
        safe=_field(doc, "safe"),
        to=_field(doc, "to"),
        value=_json_int(doc, "value"),
        data=b"" if data is None else _json_bytes(data, "field 'data'"),
        operation=_json_int(doc, "operation"),
        safe_tx_gas=_json_int(doc, "safeTxGas"),
        base_gas=_json_int(doc, "baseGas"),
        gas_price=_json_int(doc, "gasPrice"),
        gas_token=doc.get("gasToken") or ZERO_ADDRESS,
        refund_receiver=doc.get("refundReceiver") or ZERO_ADDRESS,
        nonce=_json_int(doc, "nonce"),
    )


def _json_signatures(doc: Mapping[str, Any], tx: SafeTxData) -> dict[str, bytes]:
    """Signatures by recovered owner, from ``confirmations`` and the concatenated ``signature``."""
    found: dict[str, bytes] = {}
    confirmations = doc.get("confirmations") or []
    if not isinstance(confirmations, list):
        raise SafeJsonError("field 'confirmations' must be a list")
    for index, item in enumerate(confirmations):
        if not isinstance(item, Mapping):
            raise SafeJsonError(f"confirmation {index} must be an object")
        signature = _json_bytes(_field(item, "signature"), f"confirmation {index} signature")
        signer = recover_signer(tx, signature)
        if signer != _address(_field(item, "owner"), f"confirmation {index} owner"):
            raise SafeJsonError(f"confirmation {index} is signed by {signer}, not its owner")
        found[signer] = signature
    packed = doc.get("signature")
    packed_bytes = b"" if packed is None else _json_bytes(packed, "field 'signature'")
    if len(packed_bytes) % _SIGNATURE_LENGTH:
        raise SafeJsonError("field 'signature' must be a concatenation of 65-byte signatures")
    for start in range(0, len(packed_bytes), _SIGNATURE_LENGTH):
        signature = packed_bytes[start : start + _SIGNATURE_LENGTH]
        found[recover_signer(tx, signature)] = signature
    return found


def _check_hash(tx: SafeTxData, claimed: Any) -> None:
    if claimed is None:
        raise SafeJsonError("field 'contractTransactionHash' (or 'safeTxHash') is missing")
    if _json_bytes(claimed, "transaction hash") != tx.safe_tx_hash:
        raise SafeJsonError(
            "the document's transaction hash does not match the recomputed "
            f"{_hex(tx.safe_tx_hash)} (altered fields or wrong chain id)"
        )


def from_service_json(
    doc: Mapping[str, Any], *, chain_id: int | None = None
) -> tuple[SafeTxData, dict[str, bytes]]:
    """Parse a Safe Transaction Service document: a POST body or a GET response.

    The hash (``contractTransactionHash`` or ``safeTxHash``) must equal the recomputed one and
    every signature must recover to an address; anything wrong raises :class:`SafeJsonError`.
    ``chain_id`` is required when the document has no ``chainId`` (the service omits it).
    """
    if not isinstance(doc, Mapping):
        raise SafeJsonError(f"expected a JSON object, got {type(doc).__name__}")
    try:
        tx = _json_tx(doc, chain_id)
        _check_hash(tx, doc.get("contractTransactionHash") or doc.get("safeTxHash"))
        return tx, _json_signatures(doc, tx)
    except SafeJsonError:
        raise
    except SafeError as exc:
        raise SafeJsonError(f"invalid Safe transaction document: {exc}") from exc
