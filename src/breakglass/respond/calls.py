"""Contract calls the plan writes as text: ``pause()``, ``setPoolPause(bool)`` with arguments,
and checks such as ``paused()`` or ``!paused()``.

Arguments are coerced from YAML values to what eth-abi expects. A ``bytes32`` argument may
name an OpenZeppelin role (``PAUSER_ROLE`` is ``keccak256("PAUSER_ROLE")``, and
``DEFAULT_ADMIN_ROLE`` is zero), so a plan can say ``revokeRole(bytes32,address)`` with
``[MINTER_ROLE, "0x…"]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import EncodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.hexadecimal import is_hex

from breakglass.errors import PlanError

__all__ = ["CallSpecError", "Check", "encode_call", "parse_check", "parse_signature", "role_id"]

_SIGNATURE = re.compile(r"^\s*([A-Za-z_$][A-Za-z0-9_$]*)\s*\(([^()]*)\)\s*$")
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


class CallSpecError(PlanError):
    """A function signature or its arguments cannot be encoded."""


def parse_signature(signature: str) -> tuple[str, list[str]]:
    """``"f(uint256,address)"`` as its name and argument types.

    Raises:
        CallSpecError: not a function signature.
    """
    match = _SIGNATURE.match(signature)
    if match is None:
        raise CallSpecError(f"{signature!r} is not a function signature like pause() or f(uint256)")
    name, inner = match.groups()
    types = [t.strip() for t in inner.split(",")] if inner.strip() else []
    return name, types


def role_id(value: str) -> bytes:
    """A bytes32 role: hex as it is, ``DEFAULT_ADMIN_ROLE`` as zero, other names hashed."""
    if _HEX32.match(value):
        return bytes.fromhex(value[2:])
    if value == "DEFAULT_ADMIN_ROLE":
        return bytes(32)
    return keccak(text=value)


def _coerce(abi_type: str, value: Any) -> Any:
    if abi_type == "bytes32" and isinstance(value, str):
        return role_id(value)
    if abi_type.startswith("bytes") and isinstance(value, str) and is_hex(value):
        return bytes.fromhex(value.removeprefix("0x"))
    if abi_type == "address" and isinstance(value, str):
        try:
            return to_checksum_address(value)
        except ValueError:
            raise CallSpecError(f"{value!r} is not an address") from None
    if abi_type.startswith(("uint", "int")) and isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise CallSpecError(f"{value!r} is not an integer for {abi_type}") from None
    return value


def encode_call(signature: str, args: Sequence[Any] = ()) -> bytes:
    """Calldata for ``signature`` applied to ``args``.

    Raises:
        CallSpecError: a malformed signature, the wrong number of arguments, or a value
            that does not fit its type.
    """
    name, types = parse_signature(signature)
    if len(args) != len(types):
        raise CallSpecError(
            f"{signature} takes {len(types)} argument(s), the plan gives {len(args)}"
        )
    canonical = f"{name}({','.join(types)})"
    selector = function_signature_to_4byte_selector(canonical)
    try:
        values = [_coerce(t, v) for t, v in zip(types, args, strict=True)]
        return selector + encode(types, values)
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise CallSpecError(f"cannot encode {signature} with {list(args)!r}: {exc}") from None


@dataclass(frozen=True)
class Check:
    """A boolean view: ``paused()`` must be true, ``!paused()`` must be false."""

    text: str
    data: bytes
    negate: bool

    def holds(self, returned: str | bytes) -> bool:
        """Whether the check holds for the raw ``eth_call`` result."""
        raw = bytes.fromhex(returned.removeprefix("0x")) if isinstance(returned, str) else returned
        if len(raw) < 32:
            raise CallSpecError(f"{self.text}: the view returned {len(raw)} bytes, not a bool")
        (value,) = decode(["bool"], raw[:32], strict=False)
        return bool(value) != self.negate


def parse_check(text: str, args: Sequence[Any] = ()) -> Check:
    """Parse ``[!]view(...)`` into a :class:`Check`.

    Raises:
        CallSpecError: not a function signature.
    """
    stripped = text.strip()
    negate = stripped.startswith("!")
    return Check(text=stripped, data=encode_call(stripped.lstrip("!").strip(), args), negate=negate)
