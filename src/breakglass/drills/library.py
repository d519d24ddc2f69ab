"""The drill library: what every scripted scenario provides, and the registry of built-ins.

A :class:`DrillScenario` deploys its own contracts on a local anvil (built on real
third-party bytecode from npm), writes the plan fragment that detects and contains its attack
(contracts, rules, a pause playbook signed by the guardian key from :data:`GUARDIAN_ENV`),
and scripts the attack as :class:`AttackStep` objects the runner sends one block at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from breakglass.devchain import Anvil
from breakglass.errors import BreakglassError

__all__ = [
    "CHAIN",
    "GUARDIAN_ENV",
    "PHASES",
    "AttackStep",
    "Deployment",
    "DrillScenario",
    "build_plan",
    "get_scenario",
    "scenario_names",
]

CHAIN = "local"
"""Name of the drill chain in the generated plan."""
GUARDIAN_ENV = "BREAKGLASS_DRILL_GUARDIAN_KEY"
"""Environment variable the plan's guardian signer reads; the drill sets it for LiveEnv only."""
PHASES = ("discovery", "gathering", "analysis", "action", "reflection")
"""The phases of a tabletop exercise, in order."""


@dataclass(frozen=True, slots=True)
class AttackStep:
    """One attacker move: ``send`` sends transactions (or moves time) and returns their hashes.

    ``exploit`` marks the step whose block starts the incident: times to detect and contain
    are counted from the first such block.
    """

    label: str
    send: Callable[[Anvil], list[str]]
    exploit: bool = False


@dataclass(slots=True)
class Deployment:
    """What :meth:`DrillScenario.deploy` put on chain."""

    addresses: dict[str, str]
    guardian: str
    guardian_key: str
    attacker: str
    extra: dict[str, Any] = field(default_factory=dict)


class DrillScenario(ABC):
    """A scripted attack with its own contracts, plan fragment and tabletop prompts."""

    name: str = ""
    title: str = ""
    summary: str = ""
    goals: tuple[str, ...] = ()
    drain: bool = True
    """Whether funds leave a contract (then the drill measures the share saved)."""
    tabletop: Mapping[str, tuple[str, ...]] = {}
    """Per phase of :data:`PHASES`, what the facilitator tells the team."""

    @abstractmethod
    def deploy(self, anvil: Anvil) -> Deployment:
        """Deploy the scenario's contracts and fund its users."""

    @abstractmethod
    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        """``contracts``, ``signers``, ``rules`` and ``playbooks`` of the drill plan."""

    @abstractmethod
    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        """The attacker's steps, in order."""

    @abstractmethod
    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        """Token base units the attacker is after, still in place now (None: not a drain)."""

    @abstractmethod
    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        """Whether the containment (a pause) is in force on chain."""


def _guardian_signer(deployment: Deployment) -> dict[str, Any]:
    return {
        "guardian": {
            "type": "env",
            "key": "${" + GUARDIAN_ENV + "}",
            "address": deployment.guardian,
        }
    }


def build_plan(
    scenario: DrillScenario,
    anvil: Anvil,
    deployment: Deployment,
    user_plan: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The drill plan: local chain, the scenario's fragment, and the user's people and roles.

    ``user_plan`` is the user's raw plan document; its ``people`` and ``roles`` are copied so
    the drill's report names the real team. Its ``channels`` and each person's ``page`` URL
    are left out: a drill that posted "Contracts paused: vault" to the war-room would look
    like a real incident to everyone who reads it.
    """
    fragment = scenario.plan_fragment(anvil, deployment)
    user = dict(user_plan or {})
    plan: dict[str, Any] = {
        "version": 1,
        "protocol": f"{user.get('protocol', 'breakglass')} drill: {scenario.name}",
        "chains": {
            CHAIN: {
                "chain_id": anvil.chain_id,
                "confirmations": 0,
                "rpc": [{"url": anvil.http_url, "ws": anvil.ws_url}],
                "gas": {
                    "max_priority_fee_gwei": float(Decimal(50)),
                    "max_fee_gwei": float(Decimal(500)),
                },
            }
        },
        "signers": _guardian_signer(deployment),
    }
    plan.update(fragment)
    if user.get("roles"):
        plan["roles"] = user["roles"]
    if isinstance(user.get("people"), Mapping):
        plan["people"] = {key: _unreachable(person) for key, person in user["people"].items()}
    return plan


def _unreachable(person: Any) -> Any:
    """``person`` without the URL that pages them (a drill never pages anyone for real)."""
    if not isinstance(person, Mapping):
        return person
    return {key: value for key, value in person.items() if key != "page"}


def _registry() -> dict[str, DrillScenario]:
    from breakglass.drills.scenarios import SCENARIOS  # noqa: PLC0415 - they import this module

    return {scenario.name: scenario for scenario in SCENARIOS}


def scenario_names() -> list[str]:
    """Names of the built-in scenarios."""
    return list(_registry())


def get_scenario(name: str) -> DrillScenario:
    """The built-in scenario called ``name``.

    Raises:
        BreakglassError: no such scenario.
    """
    found = _registry().get(name)
    if found is None:
        raise BreakglassError(
            f"no drill scenario {name!r}; built-in: {', '.join(scenario_names())}"
        )
    return found
