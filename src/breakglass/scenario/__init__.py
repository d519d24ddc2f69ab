"""Attack scenarios on a local anvil chain for benchmarks, demos and drills.

``breakglass.scenario.vault``: a vault of real ERC-20 deposits drained over several blocks.
"""

from __future__ import annotations

from breakglass.scenario.vault import (
    TRANSFER_TOPIC,
    Attacker,
    VaultScenario,
    calldata,
    deploy_vault,
    plan_yaml,
    sign_call,
)

__all__ = [
    "TRANSFER_TOPIC",
    "Attacker",
    "VaultScenario",
    "calldata",
    "deploy_vault",
    "plan_yaml",
    "sign_call",
]
