"""Chain settings that decide whether one hostile endpoint or one expensive transaction can
stop breakglass: a head quorum, and caps on what it bids for its own transactions."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.checks.chains_distinct import distinct_endpoints


class ChainQuorum(PlanCheck):
    id = "chains.quorum"
    title = "Every chain needs several endpoints to agree on a new head"
    severity = CheckSeverity.WARNING
    explanation = (
        "Without `quorum`, the preferred endpoint alone decides which blocks the monitor "
        "sees: one that lies about block hashes, or is compromised, can hide an exploit. "
        "With `quorum: k`, a head counts only once k endpoints report the same hash, and an "
        "endpoint whose hash nobody else knows is the one demoted. A quorum as large as the "
        "number of endpoints stops every head when one of them is down."
    )
    fix = (
        "List at least three endpoints from different providers under the chain's `rpc` "
        "and set `quorum: 2`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for name, chain in ctx.plan.chains.items():
            endpoints = distinct_endpoints(chain)
            if chain.quorum is None or chain.quorum < 2:
                yield Finding(
                    f"chain '{name}' has no quorum: its preferred endpoint alone decides "
                    "which blocks the monitor sees",
                    ("chains", name),
                )
            elif chain.quorum >= endpoints:
                yield Finding(
                    f"chain '{name}' needs {chain.quorum} of its {endpoints} endpoints to "
                    "agree: one endpoint down stops every head",
                    ("chains", name, "quorum"),
                )


class ChainGasCaps(PlanCheck):
    id = "chains.gas-caps"
    title = "Every chain caps what breakglass bids for its own transactions"
    severity = CheckSeverity.WARNING
    explanation = (
        "The emergency bid follows the highest tips of recent blocks. Anyone can lift them "
        "with one transaction at a huge tip, until the guardian cannot afford the pause. "
        "Without `gas` caps breakglass applies defaults (a tip cap per chain and a max fee of "
        "4x the base fee plus that tip); caps chosen for the chain and the guardian's "
        "balance are better. Keep the guardian funded for them: the monitor's "
        "guardian-balance health check pages when it is not."
    )
    fix = (
        "Set the chain's `gas: {max_fee_gwei: ..., max_priority_fee_gwei: ...}` to what a "
        "pause may cost at worst, and fund the guardian for `health.guardian_min_txs` of them."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        # respond imports the plan models; importing it at module level would be circular.
        from breakglass.respond.gas import (  # noqa: PLC0415
            DEFAULT_BASE_FEE_MULTIPLE,
            DEFAULT_TIP_CAP_GWEI,
            FALLBACK_TIP_CAP_GWEI,
        )

        for name, chain in ctx.plan.chains.items():
            if chain.gas.max_fee_gwei is None and chain.gas.max_priority_fee_gwei is None:
                tip = DEFAULT_TIP_CAP_GWEI.get(chain.chain_id, FALLBACK_TIP_CAP_GWEI)
                yield Finding(
                    f"chain '{name}' sets no gas caps: breakglass bids up to a {tip} gwei tip "
                    f"and {DEFAULT_BASE_FEE_MULTIPLE}x the base fee plus that tip",
                    ("chains", name),
                )
