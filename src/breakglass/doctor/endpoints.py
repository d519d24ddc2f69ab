"""A chain's endpoints are distinct nodes, and each answers with the plan's chain id.

The rule for "the same node", applied to URLs after ``${VAR}`` references are resolved:

* Two endpoints are the **same node** (a failure) when their URLs agree on host, port,
  path and query: the scheme does not count beyond its default port (``https://h/x`` and
  ``wss://h/x`` are one provider's one node), letter case of the host does not, nor a
  trailing ``/``, and ``localhost``, ``127.0.0.1``, ``::1`` and ``0.0.0.0`` are one host.
  This is what a team hits: two variables that both hold the same URL, or one URL pasted
  twice with its WebSocket twin.
* Two endpoints are the **same provider** (a warning) when their hosts share the last two
  labels of the name (``eth-mainnet.g.alchemy.com`` and ``arb-mainnet.g.alchemy.com``:
  ``alchemy.com``) or the same IP address, but not their path or query: the same URL with
  two API keys is still one provider, one outage and one rate limit.
* A node that answers ``web3_clientVersion`` and the head block like another is not taken
  for it: every healthy node of one client version on one chain does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from itertools import combinations
from urllib.parse import parse_qsl, urlsplit

from breakglass.doctor.base import DoctorCheck, Finding
from breakglass.doctor.context import DoctorContext, EndpointProbe

__all__ = ["ChainIdCheck", "DistinctEndpointsCheck", "node_key", "provider_key"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104 - a name, not a bind
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _host(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    return ("localhost" if host in _LOOPBACK else host), (
        parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    )


def node_key(url: str) -> tuple[object, ...]:
    """What two URLs of one node have in common (see the module's rule)."""
    try:
        host, port = _host(url)
        parts = urlsplit(url)
    except ValueError:
        return (url,)
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return (host, port, parts.path.rstrip("/"), query)


def provider_key(url: str) -> str | None:
    """The provider a URL belongs to, or None for local and private nodes (a team's own)."""
    try:
        host, _ = _host(url)
    except ValueError:
        return None
    if not host or host == "localhost":
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ".".join(host.split(".")[-2:])
    return None if address.is_private or address.is_loopback else host


def _label(probe: EndpointProbe) -> str:
    return f"rpc[{probe.index}]{'.ws' if probe.kind == 'ws' else ''} {probe.shown}"


class DistinctEndpointsCheck(DoctorCheck):
    id = "endpoints.distinct"
    title = "No two endpoints of a chain are the same node"
    needs = "The chains' `rpc` URLs with their variables resolved (no network)."
    fix = (
        "Give each chain endpoints from different providers, or at least different nodes: "
        "failover to the same node is no failover. Check the variables that hold the URLs "
        "when two of them resolve to the same one."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for chain in ctx.chains():
            probes = [p for p in await ctx.probe(chain) if p.url is not None]
            clash = False
            reported: set[tuple[int, int]] = set()
            for a, b in combinations(probes, 2):
                if a.index == b.index or (a.index, b.index) in reported:
                    continue  # an endpoint's WebSocket is meant to be its HTTP URL's node
                assert a.url is not None and b.url is not None
                path = ("chains", chain, "rpc", b.index)
                if node_key(a.url) == node_key(b.url):
                    clash = True
                    reported.add((a.index, b.index))
                    yield Finding.fail(
                        chain,
                        f"{_label(a)} and {_label(b)} are the same node once variables are "
                        "resolved: failing over between them changes nothing",
                        path,
                    )
                elif (provider := provider_key(a.url)) and provider == provider_key(b.url):
                    clash = True
                    reported.add((a.index, b.index))
                    yield Finding.warn(
                        chain,
                        f"{_label(a)} and {_label(b)} are both {provider}: one provider's "
                        "outage or rate limit takes both",
                        path,
                    )
            count = len({p.index for p in probes})
            if not count:
                yield Finding.not_checked(chain, "no endpoint URL resolves", ("chains", chain))
            elif not clash:
                yield Finding.ok(chain, f"{count} distinct endpoint(s)", ("chains", chain, "rpc"))


class ChainIdCheck(DoctorCheck):
    id = "endpoints.chain-id"
    title = "Every endpoint answers, with the plan's chain id"
    needs = "Each endpoint (HTTP and WebSocket) reachable from here; one eth_chainId call each."
    fix = (
        "Fix or replace the endpoint that does not answer; when the chain id is wrong, the "
        "URL points at another network (or the plan's chain_id is wrong)."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for chain, config in ctx.chains().items():
            for probe in await ctx.probe(chain):
                path = ("chains", chain, "rpc", *probe.path)
                subject = f"{chain} rpc[{probe.index}]{'.ws' if probe.kind == 'ws' else ''}"
                if not probe.resolved:
                    yield Finding.not_checked(subject, probe.error, path)
                elif probe.url is None:
                    yield Finding.fail(subject, f"{probe.shown} {probe.error}", path)
                elif probe.error is not None:
                    message = f"{probe.shown} does not answer: {probe.error}"
                    yield Finding.fail(subject, message, path)
                elif probe.chain_id != config.chain_id:
                    yield Finding.fail(
                        subject,
                        f"{probe.shown} is chain {probe.chain_id}, the plan says {config.chain_id}",
                        path,
                    )
                else:
                    yield Finding.ok(subject, f"{probe.shown} is chain {probe.chain_id}", path)
