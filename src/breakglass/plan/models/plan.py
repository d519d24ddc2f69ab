"""The whole incident-response plan."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from breakglass.plan.models.analysis import Analysis
from breakglass.plan.models.base import Name, PlanModel
from breakglass.plan.models.chain import Chain, Dependency, Signer
from breakglass.plan.models.contracts import Contract
from breakglass.plan.models.detection import Alerting, Rule, Scenario
from breakglass.plan.models.names import resolve_analysis_names
from breakglass.plan.models.org import Person, Role
from breakglass.plan.models.policy import (
    CompensationPolicy,
    Deployment,
    Drills,
    ExternalParty,
    NewsSources,
    Regulatory,
)
from breakglass.plan.models.response import Channel, Communication, Playbook
from breakglass.plan.models.restore import Restore

__all__ = ["Plan"]


class Plan(PlanModel):
    """One protocol's incident-response plan, as written in ``breakglass.yaml``."""

    version: Literal[1] = 1
    protocol: str = Field(min_length=1)
    description: str | None = None
    people: dict[Name, Person] = Field(default_factory=dict)
    roles: dict[Name, Role] = Field(default_factory=dict)
    chains: dict[Name, Chain] = Field(default_factory=dict)
    contracts: dict[Name, Contract] = Field(default_factory=dict)
    signers: dict[Name, Signer] = Field(default_factory=dict)
    dependencies: dict[Name, Dependency] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    alerting: Alerting = Field(default_factory=Alerting)
    playbooks: list[Playbook] = Field(default_factory=list)
    channels: dict[Name, Channel] = Field(default_factory=dict)
    communication: Communication | None = None
    deployment: Deployment | None = None
    compensation_policy: CompensationPolicy | None = None
    news_sources: NewsSources | None = None
    external_parties: dict[Name, ExternalParty] = Field(default_factory=dict)
    regulatory: Regulatory | None = None
    scenarios: dict[Name, Scenario] = Field(default_factory=dict)
    drills: Drills | None = None
    analysis: Analysis | None = None
    restore: Restore | None = None

    @model_validator(mode="before")
    @classmethod
    def _names_to_addresses(cls, data: Any) -> Any:
        return resolve_analysis_names(data)

    def deployed_on(self, name: str) -> tuple[str, ...]:
        """The chains contract ``name`` is deployed on (none when the plan has no such
        contract), its home chain first."""
        contract = self.contracts.get(name)
        return contract.chains if contract is not None else ()

    def start_block(self, chain: str) -> int:
        """Where analysis starts searching on ``chain``: the earliest ``from_block`` of a
        deployment there, else ``analysis.from_block``."""
        blocks = [
            d.from_block
            for c in self.contracts.values()
            if (d := c.deployment(chain)) is not None and d.from_block is not None
        ]
        if blocks:
            return min(blocks)
        return self.analysis.from_block if self.analysis is not None else 0

    def on_chain(self, chain: str) -> Plan:
        """The plan as seen from ``chain``: every contract deployed there has that
        deployment's address, and ``analysis`` starts at the chain's :meth:`start_block`.

        Addresses elsewhere in the plan that were written as a contract's name (owners,
        feeds, pairs, labels) were resolved to its home chain at load; here they become the
        same contract's address on ``chain``.
        """
        contracts = {name: c.on(chain) for name, c in self.contracts.items()}
        same = all(contracts[name] is c for name, c in self.contracts.items())
        if same and (self.analysis is None or self.start_block(chain) == self.analysis.from_block):
            return self
        moved = {
            c.address.lower(): contracts[name].address
            for name, c in self.contracts.items()
            if contracts[name] is not c
        }
        update: dict[str, object] = {"contracts": contracts}
        if self.analysis is not None:
            update["analysis"] = self.analysis.moved(moved, from_block=self.start_block(chain))
        return self.model_copy(update=update)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def playbook(self, playbook_id: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None)
