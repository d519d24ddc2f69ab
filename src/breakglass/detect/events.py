"""ABI event entries the built-in rules listen to, written once."""

from __future__ import annotations

from typing import Any

__all__ = ["event_abi"]


def event_abi(name: str, *inputs: tuple[str, str, bool]) -> dict[str, Any]:
    """An ABI ``event`` entry from ``(type, name, indexed)`` triples."""
    return {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [{"type": t, "name": n, "indexed": i} for t, n, i in inputs],
    }


TRANSFER = event_abi(
    "Transfer", ("address", "from", True), ("address", "to", True), ("uint256", "value", False)
)
PAUSED = event_abi("Paused", ("address", "account", False))
UNPAUSED = event_abi("Unpaused", ("address", "account", False))
OWNERSHIP_TRANSFERRED = event_abi(
    "OwnershipTransferred", ("address", "previousOwner", True), ("address", "newOwner", True)
)
ROLE_GRANTED = event_abi(
    "RoleGranted",
    ("bytes32", "role", True),
    ("address", "account", True),
    ("address", "sender", True),
)
ROLE_REVOKED = event_abi(
    "RoleRevoked",
    ("bytes32", "role", True),
    ("address", "account", True),
    ("address", "sender", True),
)
UPGRADED = event_abi("Upgraded", ("address", "implementation", True))
ADMIN_CHANGED = event_abi(
    "AdminChanged", ("address", "previousAdmin", False), ("address", "newAdmin", False)
)
