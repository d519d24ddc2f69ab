"""A contract declared once, deployed on one chain or several.

A protocol deploys the same contract (one ABI, one pause method, one role in the plan) on
every chain it runs on, at a different address and from a different block each time. Writing
it once per chain made every rule and playbook step repeat itself; ``deployments`` lists the
addresses instead, and rules and playbooks apply on each chain where it is deployed::

    comptroller:
      abi: abis/Comptroller.json
      deployments:
        ethereum: {address: "0x3d98…", from_block: 7710671}
        arbitrum: "0x8e3c…"

The single-chain form (``chain:`` and ``address:``) is a plan with one deployment and keeps
loading unchanged. ``chain`` and ``address`` are always set: to the only deployment, or to
the first one listed (the contract's home chain), so code that reads one address keeps
working; :meth:`Plan.on_chain` gives the view of any other chain.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from breakglass.plan.models.base import Address, Name, PlanModel
from breakglass.plan.models.chain import Contract as SingleChainContract

__all__ = ["Contract", "ContractDeployment"]


class ContractDeployment(PlanModel):
    """Where a contract lives on one chain. A bare address is shorthand for ``{address: …}``."""

    address: Address
    from_block: int | None = Field(
        default=None,
        ge=0,
        description="Block it was deployed at: where analysis starts searching on this chain.",
    )

    @model_validator(mode="before")
    @classmethod
    def _address_shorthand(cls, data: Any) -> Any:
        return {"address": data} if isinstance(data, str) else data


class Contract(SingleChainContract):
    """A watched contract: ``chain`` and ``address``, or ``deployments`` per chain."""

    deployments: dict[Name, ContractDeployment] = Field(
        default_factory=dict,
        description="Address (and from_block) per chain; instead of chain and address.",
    )

    @model_validator(mode="before")
    @classmethod
    def _home_deployment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        deployments = data.get("deployments")
        if deployments in (None, {}):
            return data
        if "chain" in data or "address" in data:
            raise ValueError(
                "write either chain and address (one chain) or deployments (per chain), not both"
            )
        if not isinstance(deployments, dict):
            return data  # the field's own validation says what is wrong
        home, first = next(iter(deployments.items()))
        address = first.get("address") if isinstance(first, dict) else first
        return {**data, "chain": home, "address": address}

    @property
    def chains(self) -> tuple[str, ...]:
        """Every chain it is deployed on, the home chain first."""
        return tuple(self.deployments) or (self.chain,)

    def deployment(self, chain: str) -> ContractDeployment | None:
        """Its deployment on ``chain``, if it has one there."""
        found = self.deployments.get(chain)
        if found is None and chain == self.chain and not self.deployments:
            return ContractDeployment(address=self.address)
        return found

    def on(self, chain: str) -> Contract:
        """This contract as seen on ``chain``: its ``chain`` and ``address`` are that
        deployment's (itself when it is not deployed there)."""
        found = self.deployment(chain)
        if found is None or (chain == self.chain and found.address == self.address):
            return self
        return self.model_copy(update={"chain": chain, "address": found.address})
