"""A remote signer asked over JSON-RPC ``eth_signTransaction`` (Clef, Web3Signer, Frame).

The guardian key lives in a KMS or HSM behind such a signer; breakglass sends it the
transaction and gets the signed bytes back. Nothing the signer returns is trusted blindly: the
raw transaction is decoded and must be exactly the one asked for (chain, nonce, fees, gas,
recipient, value, data) and must recover to the signer's address, so a compromised or confused
signer cannot slip another transaction into a pause.

The sender asks through ``sign_transaction_async``, in a worker thread, so the round trip
never holds the event loop; ``timeout`` bounds how long one signature may hold the step that
waits for it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import rlp  # type: ignore[import-untyped]
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from breakglass.logs import register_secret
from breakglass.plan.models.chain import ExternalSigner
from breakglass.respond.signers.keys import SignedTx
from breakglass.respond.signers.local import SignerError

__all__ = ["ExternalAccount", "ExternalSignerError", "load_external_signer"]

_EIP1559 = b"\x02"
_FIELDS = (
    "chainId",
    "nonce",
    "maxPriorityFeePerGas",
    "maxFeePerGas",
    "gas",
    "to",
    "value",
    "data",
)


class ExternalSignerError(SignerError):
    """The remote signer could not be reached, refused, or returned a wrong signature."""


class ExternalAccount:
    """Signs EIP-1559 transactions for ``address`` by asking the signer at ``url``.

    Args:
        name: the signer's plan name, for messages.
        url: the resolved JSON-RPC URL (registered as a secret: it may carry a token).
        shown_url: what messages show of the URL (the plan's template).
        headers: resolved HTTP headers (registered as secrets).
        transport: an httpx transport (tests may pass one; default: the network).
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        shown_url: str,
        address: str,
        method: str = "eth_signTransaction",
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self._url = url
        self._shown = shown_url
        self._method = method
        self._ids = itertools.count(1)
        self._client = httpx.Client(
            headers={"content-type": "application/json", **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ExternalAccount({self.name!r}, {self.address}, {self._shown})"

    def close(self) -> None:
        self._client.close()

    def sign_transaction(self, transaction_dict: Mapping[str, Any]) -> SignedTx:
        """Have the remote signer sign a complete EIP-1559 transaction; checked before use.

        Raises:
            ExternalSignerError: unreachable, an error answer, or a signature for anything
                other than exactly this transaction from ``address``.
        """
        asked = _normalised(transaction_dict)
        raw = self._ask(_request_params(self.address, asked))
        _check(self.name, raw, asked, self.address)
        return SignedTx(raw, HexBytes(keccak(raw)))

    async def sign_transaction_async(self, transaction_dict: Mapping[str, Any]) -> SignedTx:
        """:meth:`sign_transaction` off the event loop (the HTTP round trip runs in a worker
        thread), for callers on a loop that must keep serving heads meanwhile.

        Raises:
            ExternalSignerError: as :meth:`sign_transaction`.
        """
        return await asyncio.to_thread(self.sign_transaction, transaction_dict)

    def _ask(self, params: dict[str, str]) -> bytes:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": self._method, "params": [params]}
        where = f"signer {self.name!r} ({self._shown})"
        try:
            response = self._client.post(self._url, content=orjson.dumps(body))
        except httpx.TimeoutException:
            raise ExternalSignerError(f"{where} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ExternalSignerError(f"{where} is unreachable ({type(exc).__name__})") from None
        if response.status_code != httpx.codes.OK:
            raise ExternalSignerError(f"{where} answered HTTP {response.status_code}")
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ExternalSignerError(f"{where} answered something other than JSON") from None
        if not isinstance(answer, dict):
            raise ExternalSignerError(f"{where} answered no JSON-RPC object")
        if answer.get("error") is not None:
            error = answer["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise ExternalSignerError(f"{where} refused to sign: {str(message)[:200]}")
        result = answer.get("result")
        # eth_signTransaction answers the raw hex (anvil, Web3Signer) or {raw, tx} (geth, Clef).
        if isinstance(result, dict):
            result = result.get("raw")
        if not isinstance(result, str):
            raise ExternalSignerError(f"{where} answered no signed transaction")
        try:
            return bytes.fromhex(result.removeprefix("0x"))
        except ValueError:
            raise ExternalSignerError(
                f"{where} answered a signed transaction that is not hex"
            ) from None


def _normalised(tx: Mapping[str, Any]) -> dict[str, Any]:
    if tx.get("type") != 2 or not set(_FIELDS) <= set(tx):
        raise ExternalSignerError(f"only complete EIP-1559 transactions are signed: {sorted(tx)}")
    data = tx["data"]
    return {
        **{key: int(tx[key]) for key in _FIELDS if key not in ("to", "data")},
        "to": bytes.fromhex(str(tx["to"]).removeprefix("0x")),
        "data": bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data),
    }


def _request_params(sender: str, tx: dict[str, Any]) -> dict[str, str]:
    return {
        "from": sender,
        "to": "0x" + tx["to"].hex(),
        "type": "0x2",
        "chainId": hex(tx["chainId"]),
        "nonce": hex(tx["nonce"]),
        "gas": hex(tx["gas"]),
        "maxFeePerGas": hex(tx["maxFeePerGas"]),
        "maxPriorityFeePerGas": hex(tx["maxPriorityFeePerGas"]),
        "value": hex(tx["value"]),
        # Both names: geth and anvil read `input`, older signers `data`; equal values are fine.
        "input": "0x" + tx["data"].hex(),
        "data": "0x" + tx["data"].hex(),
    }


def _check(name: str, raw: bytes, asked: dict[str, Any], address: str) -> None:
    where = f"signer {name!r}"
    if not raw.startswith(_EIP1559):
        raise ExternalSignerError(f"{where} returned a transaction that is not EIP-1559")
    try:
        items = rlp.decode(raw[1:])
    except rlp.exceptions.DecodingError:
        raise ExternalSignerError(f"{where} returned bytes that are not a transaction") from None
    if not isinstance(items, list) or len(items) != 12:
        raise ExternalSignerError(f"{where} returned a malformed EIP-1559 transaction")
    fields = dict(zip(_FIELDS, items[:8], strict=True))
    got = {
        key: value if key in ("to", "data") else int.from_bytes(value, "big")
        for key, value in fields.items()
    }
    differs = sorted(key for key in _FIELDS if got[key] != asked[key])
    if differs or items[8] != []:
        what = ", ".join(differs) or "access list"
        raise ExternalSignerError(f"{where} signed a different transaction ({what} changed)")
    v, r, s = (int.from_bytes(items[i], "big") for i in (9, 10, 11))
    unsigned = _EIP1559 + rlp.encode(items[:9])
    try:
        signature = Signature(vrs=(v, r, s))
        signer = signature.recover_public_key_from_msg_hash(keccak(unsigned))
    except (BadSignature, ValueError):
        raise ExternalSignerError(f"{where} returned an invalid signature") from None
    recovered = signer.to_checksum_address()
    if recovered.lower() != address.lower():
        raise ExternalSignerError(
            f"{where} signed with {recovered}, but the plan says it signs for {address}"
        )


def load_external_signer(
    name: str,
    config: ExternalSigner,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ExternalAccount:
    """The account of external signer ``name``, its URL and headers resolved.

    Raises:
        ExternalSignerError: a variable the URL or a header refers to is not set.
    """
    env = dict(os.environ if environ is None else environ)
    secrets = [config.url, *config.headers.values()]
    missing = sorted({var for secret in secrets for var in secret.env_vars if var not in env})
    if missing:
        raise ExternalSignerError(f"signer {name!r}: variable {', '.join(missing)} is not set")
    url = config.url.resolve(env)
    headers = {key: value.resolve(env) for key, value in config.headers.items()}
    for secret in secrets:
        for var in secret.env_vars:
            register_secret(env[var])
    return ExternalAccount(
        name=name,
        url=url,
        shown_url=str(config.url),
        address=config.address,
        method=config.method,
        headers=headers,
        timeout=config.timeout.total_seconds(),
        transport=transport,
    )
