from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.checks.chains_distinct import distinct_endpoints


class AbnormalBehaviour(PlanCheck):
    id = "monitoring.abnormal"
    title = "Abnormal behaviour is defined for every contract, with resilient monitoring"
    severity = CheckSeverity.ERROR
    explanation = (
        "Monitoring only sees what a rule describes. Every watched contract needs at least "
        "one enabled rule saying what is abnormal for it. The monitor itself must survive an "
        "RPC provider failing, and the team needs status pages or contacts for every service "
        "the system depends on."
    )
    fix = (
        "Add a rule with `contracts: [<name>]` for each contract, list at least two `rpc:` "
        "endpoints per chain, and give each dependency a `status_page` or `contact`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        watched = {c for rule in plan.rules if rule.enabled for c in rule.contracts}
        for name in plan.contracts:
            if name not in watched:
                yield Finding(
                    f"no enabled rule defines abnormal behaviour for contract '{name}'",
                    ("contracts", name),
                )
        for name, chain in plan.chains.items():
            if distinct_endpoints(chain) < 2:  # one listed twice fails over to itself
                times = f" listed {len(chain.rpc)} times" if len(chain.rpc) > 1 else ""
                yield Finding(
                    f"chain '{name}' has 1 RPC endpoint{times}; at least two are needed "
                    "to fail over",
                    ("chains", name, "rpc"),
                    severity=CheckSeverity.WARNING,
                )
        if not plan.dependencies:
            yield Finding(
                "the plan declares no dependencies (oracles, RPC providers, stablecoins, ...) "
                "with status pages or contacts",
                severity=CheckSeverity.WARNING,
            )
        for name, dependency in plan.dependencies.items():
            if not (dependency.status_page or dependency.contact):
                yield Finding(
                    f"dependency '{name}' has no status page or support contact",
                    ("dependencies", name),
                    severity=CheckSeverity.WARNING,
                )
