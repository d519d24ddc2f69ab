"""``admin-key-compromise``: the admin key of an OpenZeppelin AccessControl token leaks.

A real OpenZeppelin 4.9.6 ``ERC20PresetMinterPauser`` (npm build) held by 10 users; the
deployer key holds ``DEFAULT_ADMIN_ROLE`` and a separate guardian key holds ``PAUSER_ROLE``.
The attacker uses the stolen admin key to grant its own wallet ``MINTER_ROLE``, mints a
million tokens and dumps them. ``role-granted`` on the token pauses it, so the mint reverts.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass.devchain import Anvil
from breakglass.drills.library import AttackStep, Deployment, DrillScenario
from breakglass.drills.scenarios.common import (
    OZ,
    UNIT,
    SetupChain,
    artifact,
    attacker_send,
    bytecode,
    calldata,
    pausable,
    pause_playbook,
    paused,
)

__all__ = ["AdminKeyCompromise"]

MINTER_ROLE = keccak(text="MINTER_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
MINTED = 1_000_000 * UNIT
HOLDERS = 10


class AdminKeyCompromise(DrillScenario):
    """A stolen admin key grants the attacker a minter role; the token is paused."""

    name = "admin-key-compromise"
    title = "Admin key compromised: role granted, tokens minted"
    summary = (
        "The deployer key, which holds DEFAULT_ADMIN_ROLE on the aUSD token, leaked. The "
        "attacker grants its wallet MINTER_ROLE, mints 1,000,000 aUSD and sells them."
    )
    goals = (
        "role-granted raises an alert in the block of the grant",
        "the guardian pauses the token before the attacker mints",
        "no unbacked tokens reach the market",
    )
    drain = False
    tabletop = {
        "discovery": ("role-granted: MINTER_ROLE went to an address nobody knows.",),
        "gathering": ("The grant was signed by the deployer key, kept on a laptop.",),
        "analysis": ("Which other contracts does the deployer key administer?",),
        "action": ("Pause the token, then move DEFAULT_ADMIN_ROLE to the Safe.",),
        "reflection": ("Why did a hot key still hold the admin role?",),
    }

    def deploy(self, anvil: Anvil) -> Deployment:
        chain = SetupChain(anvil)
        admin, guardian, attacker = (a.lower() for a in anvil.accounts[:3])
        token = chain.deploy(
            admin,
            bytecode(artifact(OZ.format("ERC20PresetMinterPauser"))),
            encode(["string", "string"], ["Acme USD", "aUSD"]),
        )
        chain.send(admin, calldata("grantRole(bytes32,address)", PAUSER_ROLE, guardian), token)
        for index in range(HOLDERS):
            holder = "0x" + keccak(text=f"breakglass drill holder {index}")[12:].hex()
            chain.send(admin, calldata("mint(address,uint256)", holder, 10_000 * UNIT), token)
        return Deployment(
            addresses={"token": token},
            guardian=guardian,
            guardian_key=anvil.private_keys[1],
            attacker=attacker,
            extra={"compromised": admin, "market": anvil.accounts[9].lower()},
        )

    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        return {
            "contracts": {"token": pausable(deployment.addresses["token"])},
            "rules": [
                {
                    "id": "role-grant",
                    "rule": "role-granted",
                    "contracts": ["token"],
                    "severity": "critical",
                }
            ],
            "playbooks": [pause_playbook("token", ["role-grant"])],
        }

    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        token, attacker = deployment.addresses["token"], deployment.attacker
        stolen, market = deployment.extra["compromised"], deployment.extra["market"]

        def grant(chain: Anvil) -> list[str]:
            data = calldata("grantRole(bytes32,address)", MINTER_ROLE, attacker)
            return [attacker_send(chain, stolen, token, data, gas=200_000)]

        def mint(chain: Anvil) -> list[str]:
            data = calldata("mint(address,uint256)", attacker, MINTED)
            return [attacker_send(chain, attacker, token, data, gas=200_000)]

        def dump(chain: Anvil) -> list[str]:
            data = calldata("transfer(address,uint256)", market, MINTED)
            return [attacker_send(chain, attacker, token, data, gas=200_000)]

        return [
            AttackStep("grant MINTER_ROLE with the stolen admin key", grant, exploit=True),
            AttackStep("mint 1,000,000 aUSD", mint),
            AttackStep("sell the minted aUSD", dump),
        ]

    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        return None

    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        return paused(anvil, deployment.addresses["token"])
