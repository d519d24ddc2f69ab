from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import DependencyKind

# Chains whose blocks come from a single sequencer; its outage is a scenario of its own.
_ROLLUP_CHAIN_IDS = {10, 324, 8453, 42161, 42170, 59144, 534352, 81457, 5000, 1101}


class IndirectScenarios(PlanCheck):
    id = "scenarios.indirect"
    title = "Scenarios cover what affects the protocol indirectly"
    severity = CheckSeverity.WARNING
    explanation = (
        "Many losses start outside the protocol: a stale or manipulated oracle, a bridge "
        "hack, an upstream protocol paused, an RPC provider down, a stablecoin depeg, a "
        "sequencer outage. Every dependency the plan declares should appear in a scenario."
    )
    fix = (
        "Declare what the protocol relies on under `dependencies:` (kind: oracle, bridge, "
        "upstream-protocol, rpc-provider, stablecoin, sequencer) and add a scenario with "
        "`dependencies: [...]` for each."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        if not any(s.indirect for s in plan.scenarios.values()):
            yield Finding(
                "no scenario starts outside the protocol (none names a dependency)", ("scenarios",)
            )
        covered = {d for s in plan.scenarios.values() for d in s.dependencies}
        for name in plan.dependencies:
            if name not in covered:
                yield Finding(f"no scenario covers dependency '{name}'", ("dependencies", name))
        kinds = {plan.dependencies[d].kind for d in covered if d in plan.dependencies}
        if plan.chains and DependencyKind.RPC_PROVIDER not in kinds:
            yield Finding("no scenario covers an RPC provider outage", ("scenarios",))
        rollups = [n for n, c in plan.chains.items() if c.chain_id in _ROLLUP_CHAIN_IDS]
        if rollups and DependencyKind.SEQUENCER not in kinds:
            yield Finding(
                f"chain '{rollups[0]}' has a sequencer, but no scenario covers its outage",
                ("chains", rollups[0]),
            )
