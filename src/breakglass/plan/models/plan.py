"""The whole incident-response plan."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from breakglass.plan.models.analysis import Analysis
from breakglass.plan.models.base import Name, PlanModel
from breakglass.plan.models.chain import Chain, Contract, Dependency, Signer
from breakglass.plan.models.detection import Alerting, Rule, Scenario
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

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def playbook(self, playbook_id: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None)
