"""What mempool pre-execution can and cannot do on each chain, from its declared ordering."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models.chain import Chain, Ordering

__all__ = ["ChainMempool"]


class ChainMempool(PlanCheck):
    id = "chains.mempool"
    title = "Mempool pre-execution is enabled only where it can front-run, and capped"
    severity = CheckSeverity.WARNING
    explanation = (
        "With `mempool.enabled`, breakglass simulates pending transactions that touch the "
        "protocol and, when a critical rule fires, sends the pause with a bid above the "
        "exploit's. That puts the pause first only where blocks are ordered by fee "
        "(`ordering: priority-fee`). A first-come sequencer (`fifo`: OP Stack, Arbitrum) puts "
        "the exploit first whatever the bid: the pause still goes out before the next block, "
        "but lands after the exploit. Where order flow is private (`private-orderflow`) the "
        "exploit is never seen pending at all. A pause sent through the public RPC can "
        "itself be seen and outbid; without a fee cap an attacker's huge bid sets the "
        "pause's bid too."
    )
    fix = (
        "Declare each chain's `ordering`; enable `mempool` on priority-fee chains, send the "
        "pause through a private-transaction RPC (`route: private`, `private_rpc`) where one "
        "exists, cap the bid (`mempool.max_fee_gwei` or the chain's `gas.max_fee_gwei`), and "
        "rely on attack-contract simulation and post-hoc reaction on the other chains."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for name, chain in ctx.plan.chains.items():
            if chain.mempool.enabled:
                yield from _enabled(name, chain)


def _enabled(name: str, chain: Chain) -> Iterator[Finding]:
    mempool, path = chain.mempool, ("chains", name, "mempool")
    if chain.ordering is Ordering.FIFO:
        yield Finding(
            f"chain '{name}' has a first-come sequencer: a pause sent after a pending exploit "
            "is seen lands after it, whatever it bids",
            ("chains", name, "ordering"),
        )
    elif chain.ordering is Ordering.PRIVATE_ORDERFLOW:
        yield Finding(
            f"chain '{name}' has private order flow: exploits are never seen pending, so "
            "mempool pre-execution cannot act on them",
            ("chains", name, "ordering"),
        )
    if mempool.max_fee_gwei is None and chain.gas.max_fee_gwei is None:
        yield Finding(
            f"chain '{name}' caps no outbid: an exploit bidding a huge max fee sets what the "
            "pause bids (up to the guardian's balance)",
            path,
        )
    if mempool.route == "public" and chain.ordering is Ordering.PRIORITY_FEE:
        yield Finding(
            f"chain '{name}' sends the front-running pause through its public RPC: it can be "
            "seen and outbid; a private-transaction RPC cannot",
            (*path, "route"),
        )
    if not any(endpoint.ws is not None for endpoint in chain.rpc):
        yield Finding(
            f"chain '{name}' has no WebSocket endpoint: pending transactions are read by "
            "polling txpool_content, later than a subscription sees them",
            ("chains", name, "rpc"),
        )
