"""The Safe Transaction Builder batch that hands a contract's pause role to a new signer.

Defender relayer keys cannot be exported, so moving to breakglass means a new key; the Safe
that administers the contracts grants it ``PAUSER_ROLE`` (OpenZeppelin AccessControl). The
batch is the Transaction Builder's JSON, which the Safe web app loads as it is.
"""

from __future__ import annotations

from typing import Any

from eth_utils.crypto import keccak

__all__ = ["PAUSER_ROLE", "pauser_grant_batch"]

PAUSER_ROLE = "0x" + keccak(text="PAUSER_ROLE").hex()


def pauser_grant_batch(
    *,
    chain_id: int,
    safe: str | None,
    targets: list[str],
    signer_variable: str,
    signer: str | None = None,
) -> dict[str, Any]:
    """A Safe Transaction Builder batch: ``grantRole(PAUSER_ROLE, signer)`` on each target
    (``NEW_SIGNER_ADDRESS`` until the new key's address is known)."""
    placeholder = signer or "NEW_SIGNER_ADDRESS"
    return {
        "version": "1.0",
        "chainId": str(chain_id),
        "meta": {
            "name": "Grant PAUSER_ROLE to the breakglass signer",
            "description": f"The Defender relayer is replaced by signer {signer_variable}",
            "createdFromSafeAddress": safe or "",
        },
        "transactions": [
            {
                "to": target,
                "value": "0",
                "data": None,
                "contractMethod": {
                    "name": "grantRole",
                    "payable": False,
                    "inputs": [
                        {"name": "role", "type": "bytes32", "internalType": "bytes32"},
                        {"name": "account", "type": "address", "internalType": "address"},
                    ],
                },
                "contractInputsValues": {"role": PAUSER_ROLE, "account": placeholder},
            }
            for target in targets
        ],
    }
