"""The plan linter: one class per checklist item, run by :func:`check_plan`."""

from breakglass.plan.checks import (  # noqa: F401 - importing registers the checks
    chains_defences,
    chains_distinct,
    chains_mempool,
    comms_protocol,
    compensation_policy,
    contacts_freshness,
    deployment_process,
    drills_schedule,
    external_parties,
    keys_separation,
    monitoring_abnormal,
    news_sources,
    people_timezones,
    placeholders,
    playbooks_targets,
    regulatory_duties,
    remediation_fallback,
    roles_mitigation_owners,
    roles_pageable,
    roles_redundancy,
    scenarios_coverage,
    scenarios_indirect,
    secrets_literal,
)
from breakglass.plan.checks.base import (
    CheckContext,
    CheckResult,
    CheckSeverity,
    CheckStatus,
    Finding,
    PlanCheck,
    registered_checks,
)
from breakglass.plan.checks.docs import render_checks_markdown
from breakglass.plan.checks.report import CoverageRow, PlanReport, check_plan

__all__ = [
    "CheckContext",
    "CheckResult",
    "CheckSeverity",
    "CheckStatus",
    "CoverageRow",
    "Finding",
    "PlanCheck",
    "PlanReport",
    "check_plan",
    "registered_checks",
    "render_checks_markdown",
]
