"""The built-in drill scenarios, each a scripted attack on its own contracts."""

from __future__ import annotations

from breakglass.drills.library import DrillScenario
from breakglass.drills.scenarios.admin_key_compromise import AdminKeyCompromise
from breakglass.drills.scenarios.dependency_failure import DependencyFailure
from breakglass.drills.scenarios.governance_takeover import GovernanceTakeover
from breakglass.drills.scenarios.oracle_manipulation import OracleManipulation
from breakglass.drills.scenarios.vault_drain import VaultDrain

__all__ = ["SCENARIOS"]

SCENARIOS: tuple[DrillScenario, ...] = (
    VaultDrain(),
    OracleManipulation(),
    AdminKeyCompromise(),
    GovernanceTakeover(),
    DependencyFailure(),
)
