"""``vault-drain``: a vault whose ``emergencyWithdraw`` lost its role check is drained.

Reuses :mod:`breakglass.scenario.vault` (real OpenZeppelin ``ERC20PresetMinterPauser``,
``DrainableVault``, the attacker's ``VaultDrainer``): 20 users deposit 10,000 tokens each and
the attacker takes a fifth of the vault per block. ``large-outflow`` on the vault pauses it.
"""

from __future__ import annotations

from typing import Any

from breakglass.devchain import Anvil
from breakglass.drills.library import AttackStep, Deployment, DrillScenario
from breakglass.drills.scenarios.common import (
    attacker_send,
    calldata,
    pausable,
    pause_playbook,
)
from breakglass.scenario.vault import VaultScenario, deploy_vault

__all__ = ["VaultDrain"]


class VaultDrain(DrillScenario):
    """A flawed vault drained one fifth per block until the guardian pauses it."""

    name = "vault-drain"
    title = "Vault drained through a missing access check"
    summary = (
        "DrainableVault's emergencyWithdraw lost its onlyRole check. The attacker's "
        "VaultDrainer takes a fifth of the 200,000 deposited tokens per block."
    )
    goals = (
        "large-outflow raises an alert in the block of the first drain",
        "the guardian's pause lands in the next block, before the second drain",
        "most of the deposits stay in the vault",
    )
    tabletop = {
        "discovery": ("A large-outflow alert fires: 40,000 aUSD left the vault in one transfer.",),
        "gathering": ("It is 03:00 UTC on a Sunday; the incident lead is on a plane.",),
        "analysis": ("The transfer came from emergencyWithdraw, called by a fresh contract.",),
        "action": ("The guardian key can pause the vault; the admin Safe needs 2 of 3.",),
        "reflection": ("The vault lost a fifth of its deposits before the pause.",),
    }

    def deploy(self, anvil: Anvil) -> Deployment:
        vault = deploy_vault(anvil, users=20, deposit=10_000, parts=5)
        return Deployment(
            addresses={"vault": vault.vault, "token": vault.token, "drainer": vault.drainer},
            guardian=vault.guardian,
            guardian_key=vault.guardian_key,
            attacker=vault.attacker,
            extra={"scenario": vault},
        )

    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        a = deployment.addresses
        return {
            "contracts": {
                "vault": pausable(a["vault"]),
                "token": {"chain": "local", "address": a["token"]},
            },
            "rules": [
                {
                    "id": "drain",
                    "rule": "large-outflow",
                    "contracts": ["vault"],
                    "severity": "critical",
                    "params": {"token": a["token"], "threshold": 25_000},
                }
            ],
            "playbooks": [pause_playbook("vault", ["drain"])],
        }

    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        drainer, attacker = deployment.addresses["drainer"], deployment.attacker

        def drain(chain: Anvil) -> list[str]:
            return [attacker_send(chain, attacker, drainer, calldata("drain()"), gas=200_000)]

        parts: int = deployment.extra["scenario"].parts
        return [AttackStep(f"drain {i + 1}/{parts}", drain, exploit=True) for i in range(parts)]

    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        vault: VaultScenario = deployment.extra["scenario"]
        return vault.vault_balance(anvil)

    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        vault: VaultScenario = deployment.extra["scenario"]
        return vault.paused(anvil)
