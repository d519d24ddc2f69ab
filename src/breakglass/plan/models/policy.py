"""Deployment, compensation, vulnerability news, external parties, regulation and drills."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from breakglass.plan.models.base import Duration, Flag, Name, PlanModel, Secret

__all__ = [
    "CauseCoverage",
    "CompensationPolicy",
    "ComponentKind",
    "Deployment",
    "Drill",
    "Drills",
    "ExternalParty",
    "NewsComponent",
    "NewsSource",
    "NewsSourceKind",
    "NewsSources",
    "PartyKind",
    "Regulatory",
    "RegulatoryDuty",
]


class Deployment(PlanModel):
    """How contracts reach the chain, in normal times and in an emergency."""

    process: str = Field(min_length=1)
    tooling: str | None = None
    reviewers: list[Name] = Field(default_factory=list, description="Roles that approve.")
    checklist: list[str] = Field(default_factory=list)
    emergency_process: str | None = None
    verification: str | None = Field(default=None, description="How a deployment is checked.")


class CauseCoverage(PlanModel):
    covered: Flag
    coverage: Decimal = Field(default=Decimal(1), ge=0, le=1, description="Share made whole.")
    rationale: str | None = None


class CompensationPolicy(PlanModel):
    """When and how affected users are made whole."""

    decision_owner: Name | None = Field(default=None, description="Role that decides.")
    timeframe: str | None = None
    contract_flaw: CauseCoverage | None = None
    user_error: CauseCoverage | None = None
    third_party_flaw: CauseCoverage | None = None
    individual_loss: str | None = Field(default=None, description="Policy for one user's loss.")
    aggregate_loss: str | None = Field(default=None, description="Policy for protocol-wide loss.")
    per_user_cap_usd: Decimal | None = Field(default=None, gt=0)
    aggregate_cap_usd: Decimal | None = Field(default=None, gt=0)
    dust_threshold_usd: Decimal | None = Field(default=None, ge=0)
    exclusions: list[str] = Field(default_factory=list)


class ComponentKind(StrEnum):
    LANGUAGE = "language"
    COMPILER = "compiler"
    LIBRARY = "library"
    DEPENDENCY = "dependency"
    TOOLCHAIN = "toolchain"
    OFFCHAIN_SERVICE = "offchain-service"


class NewsSourceKind(StrEnum):
    """How a news source is read (see docs/news.md)."""

    RSS = "rss"
    ATOM = "atom"
    GITHUB_ADVISORIES = "github-advisories"
    PAGE = "page"
    OSV = "osv"
    GHSA = "ghsa"
    OSV_DIR = "osv-dir"


class NewsSource(PlanModel):
    name: str = Field(min_length=1)
    url: str = Field(min_length=1, description="Feed or JSON URL; a directory for osv-dir.")
    kind: NewsSourceKind = Field(
        default=NewsSourceKind.RSS,
        description="rss, atom, github-advisories, page (followed by hand), osv (OSV JSON), "
        "ghsa (GitHub Security Advisory JSON) or osv-dir (every *.json in a directory).",
    )


class NewsComponent(PlanModel):
    kind: ComponentKind
    owner: Name | None = Field(default=None, description="Person who follows its news.")
    version: str | None = Field(
        default=None, description="The version in use, e.g. 0.8.26 or 4.9.6.", min_length=1
    )
    package: str | None = Field(
        default=None,
        description="Ecosystem and package name, e.g. npm:@openzeppelin/contracts or PyPI:web3.",
        min_length=1,
    )
    sources: list[NewsSource] = Field(default_factory=list)


class NewsSources(PlanModel):
    channel: Name | None = Field(default=None, description="Channel the news feed posts to.")
    components: dict[Name, NewsComponent] = Field(default_factory=dict)


class PartyKind(StrEnum):
    AUDITOR = "auditor"
    SEAL_911 = "seal-911"
    AFFECTED_USERS = "affected-users"
    PROTOCOL = "protocol"
    EXCHANGE = "exchange"
    BRIDGE = "bridge"
    LAW_ENFORCEMENT = "law-enforcement"
    OTHER = "other"


class ExternalParty(PlanModel):
    kind: PartyKind
    contact: str | None = None
    engage_when: str | None = Field(default=None, description="The trigger for reaching out.")
    engage_if: str | None = Field(
        default=None,
        description="Expression that engages them automatically, over severity (1 for P1 … "
        "5 for P5), funds_at_risk_usd, status and kind; e.g. "
        "`severity <= 1 and funds_at_risk_usd > 1000000`.",
    )
    page: Secret | None = Field(
        default=None, description="Apprise URL of their contact, for automatic engagement."
    )
    how: str | None = Field(default=None, description="How they are onboarded.")
    owner: Name | None = Field(default=None, description="Role that reaches out.")


class RegulatoryDuty(PlanModel):
    id: Name
    jurisdiction: str = Field(min_length=1)
    regulator: str | None = None
    trigger: str = Field(min_length=1)
    deadline: Duration
    owner: Name | None = Field(default=None, description="Role that files.")
    description: str | None = None


class Regulatory(PlanModel):
    """The regulatory duties that apply, or the reason none do.

    ``regimes`` names shipped reporting regimes (``breakglass regulatory list``) whose
    deadlines breakglass computes for every incident; the times that start their clocks
    (classification as major, materiality determination) and the filings are recorded on the
    incident, not here. ``duties`` stay for duties no shipped regime describes.
    """

    applies: Flag = True
    reason: str | None = None
    regimes: list[Name] = Field(
        default_factory=list,
        description="Ids of shipped regulatory regimes that apply, e.g. dora, gdpr, sec-8k.",
    )
    duties: list[RegulatoryDuty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _explained(self) -> Regulatory:
        if not self.applies and (self.duties or self.regimes):
            raise ValueError("'applies: false' contradicts the duties or regimes listed")
        if len(set(self.regimes)) != len(self.regimes):
            raise ValueError("a regime is listed twice in 'regimes'")
        return self


class Drill(PlanModel):
    scenario: Name
    interval: Duration
    last_run: date | None = None
    owner: Name | None = Field(default=None, description="Role that runs it.")


class Drills(PlanModel):
    report_template: Path | None = Field(default=None, description="Filled in after each drill.")
    schedule: list[Drill] = Field(default_factory=list)
