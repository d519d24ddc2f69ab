"""The ``chains.distinct`` check: each chain is listed once, and each of its endpoints once."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Chain

__all__ = ["ChainsDistinct", "distinct_endpoints"]


def _endpoint_key(template: str) -> str:
    """The same endpoint however it is written: scheme and host in any case, with or
    without a trailing slash."""
    try:
        parts = urlsplit(template.strip())
    except ValueError:
        return template.strip()
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}?{parts.query}"


def distinct_endpoints(chain: Chain) -> int:
    """How many different endpoints a chain lists: one listed twice fails over to itself."""
    return len({_endpoint_key(endpoint.url.template) for endpoint in chain.rpc})


class ChainsDistinct(PlanCheck):
    id = "chains.distinct"
    title = "Every chain is declared once, with distinct RPC endpoints"
    severity = CheckSeverity.ERROR
    explanation = (
        "An endpoint listed twice counts twice towards failover and quorum but fails once: "
        "the plan looks resilient and is not. Two chains with the same `chain_id` are one "
        "chain watched twice, with contracts, Safes and signatures split between two names; "
        "a transaction signed for one is valid on the other."
    )
    fix = (
        "Remove the repeated endpoint and add one from another provider; merge chains that "
        "share a `chain_id` into one."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        first_with_id: dict[int, str] = {}
        for name, chain in ctx.plan.chains.items():
            other = first_with_id.setdefault(chain.chain_id, name)
            if other != name:
                yield Finding(
                    f"chains '{other}' and '{name}' both have chain_id {chain.chain_id}",
                    ("chains", name, "chain_id"),
                )
            seen: dict[str, int] = {}
            for index, endpoint in enumerate(chain.rpc):
                first = seen.setdefault(_endpoint_key(endpoint.url.template), index)
                if first != index:
                    # the URL may hold a key: say which entries, not what they say
                    yield Finding(
                        f"chain '{name}' lists the same RPC endpoint as rpc[{first}] again at "
                        f"rpc[{index}]; it counts as one endpoint",
                        ("chains", name, "rpc", index),
                    )
