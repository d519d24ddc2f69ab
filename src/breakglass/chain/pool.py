"""A pool of JSON-RPC endpoints for one chain: failover by health and priority, stale-node
guard, quorum on the head hash, bounded retries.

Order of preference: healthy endpoints (score at or above the policy's ``healthy_at`` and not
stale) by priority (lower first), then score, then weight; after them the unhealthy ones by
score, so a fully degraded pool still tries everything before giving up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from prometheus_client import CollectorRegistry

from breakglass.chain.envelope import Call
from breakglass.chain.errors import (
    AllEndpointsFailed,
    EndpointError,
    MalformedResponse,
    QuorumNotReached,
    RpcError,
    StaleEndpoint,
)
from breakglass.chain.heads import HEAD_METHOD, parse_head, quorum_height, vote
from breakglass.chain.health import Health, HealthPolicy
from breakglass.chain.member import Endpoint, Member
from breakglass.chain.metrics import rpc_metrics
from breakglass.chain.middleware import Handler, Head, Middleware, Retry, StaleGuard, compose
from breakglass.chain.rpc import DEFAULT_MAX_RESPONSE_BYTES, JsonRpcClient, RpcClient, redact_url
from breakglass.chain.shapes import check_result
from breakglass.chain.ws import WsRpcClient
from breakglass.errors import ConfigError

__all__ = ["Endpoint", "EndpointPool"]

_log = structlog.get_logger("breakglass.chain")

# Answers that depend on the node's own mempool ("already known", "nonce too low" from a node
# that saw a transaction the other did not): a second node accepting is no proof of a lie.
_OWN_VIEW_METHODS = frozenset({"eth_sendRawTransaction"})


@dataclass
class EndpointPool:
    """Endpoints of one chain behind one ``request``/``batch``/``head`` surface.

    Args:
        endpoints: at least one; URLs are redacted in every log line and error. ``ws://`` and
            ``wss://`` ones are served by :class:`WsRpcClient`, the others over HTTP.
        transport: shared httpx transport of the HTTP endpoints (e.g. ``httpx.MockTransport``).
        clock: unix seconds; drives health recovery and the stale guard's age check.
        stale_guard: judges heads seen by :meth:`refresh_heads` and :meth:`head`.
        retry: bounded retries with backoff around a full failover pass.
        middleware: further pieces wrapped around the failover handler, outermost first.
        chain: the ``chain`` label of the request metrics.
        registry: where the metrics go; default :data:`breakglass.chain.metrics.REGISTRY`.
        deadline: seconds one HTTP exchange may take in all (default: twice ``timeout``);
            past it the endpoint has failed and the next one is asked.

    A result of the wrong shape (:func:`~breakglass.chain.shapes.check_result`) is the
    endpoint's fault. So is a caller's error (e.g. a revert) that another endpoint contradicts
    by answering: an error is only the caller's when a second endpoint agrees or none is left.

    Raises:
        ConfigError: no endpoints, or duplicate URLs.
    """

    endpoints: Sequence[Endpoint]
    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = time.time
    timeout: float = 10.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    health_policy: HealthPolicy = field(default_factory=HealthPolicy)
    stale_guard: StaleGuard = field(default_factory=StaleGuard)
    retry: Retry = field(default_factory=Retry)
    middleware: Sequence[Middleware] = ()
    chain: str = ""
    registry: CollectorRegistry | None = field(default=None, repr=False)
    deadline: float | None = None

    def __post_init__(self) -> None:
        urls = [e.url for e in self.endpoints]
        if not urls or len(set(urls)) != len(urls):
            raise ConfigError(f"an endpoint pool needs distinct endpoints, got {len(urls)}")
        self._members: list[Member] = []
        seen: Counter[str] = Counter()
        metrics = rpc_metrics(self.registry)
        for e in self.endpoints:
            # Two keys on one provider redact alike; number them so stats stay apart.
            base = redact_url(e.url)
            seen[base] += 1
            client = self._client(e.url, base if seen[base] == 1 else f"{base}#{seen[base]}")
            health = Health(clock=self.clock, policy=self.health_policy)
            self._members.append(
                Member(
                    config=e,
                    client=client,
                    health=health,
                    metrics=metrics.endpoint(chain=self.chain, endpoint=client.name, health=health),
                )
            )
        self._request: Handler = compose(self._failover_request, self.retry, *self.middleware)

    def _client(self, url: str, name: str) -> JsonRpcClient:
        if url.lower().startswith(("ws://", "wss://")):
            return WsRpcClient(
                url, timeout=self.timeout, max_response_bytes=self.max_response_bytes, name=name
            )
        return RpcClient(
            url,
            transport=self.transport,
            timeout=self.timeout,
            max_response_bytes=self.max_response_bytes,
            name=name,
            deadline=self.deadline,
        )

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Call ``method`` on the best endpoint, failing over and retrying as configured.

        Raises:
            RpcError: the caller's answer (e.g. execution reverted), not node trouble.
            AllEndpointsFailed: every attempt failed; ``errors`` says where and how.
        """
        return await self._request(method, params)

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Send ``calls`` as one batch to the best endpoint, failing over and retrying."""

        def check(results: Any, endpoint: str) -> None:
            for (method, params), result in zip(calls, results, strict=True):
                check_result(method, params, result, endpoint=endpoint)

        async def send(_method: str, _params: Sequence[Any]) -> Any:
            return await self._failover(lambda m: m.client.batch(calls), "batch", check)

        handler = compose(send, self.retry, *self.middleware)
        result: list[Any] = await handler("batch", ())
        return result

    async def refresh_heads(self) -> dict[str, Head | None]:
        """Ask every endpoint for its latest block and mark stale ones.

        Returns the head each endpoint reported (``None`` where it failed), by endpoint name.
        """
        heads = await self._refresh()
        return {m.name: h for m, h in zip(self._members, heads, strict=True)}

    async def head(self, k: int = 1) -> Head:
        """The latest head on whose hash at least ``k`` endpoints agree.

        When the endpoints' latest blocks differ in height, they vote again on the highest
        block ``k`` of them have reached. Endpoints reporting another hash at the agreed height
        lose score.

        Raises:
            ConfigError: ``k`` is not within 1..number of endpoints.
            QuorumNotReached: no hash has ``k`` votes.
        """
        if not 1 <= k <= len(self._members):
            raise ConfigError(f"quorum k={k} must be within 1..{len(self._members)}")
        heads = await self._refresh()
        winner = vote(heads, k)
        height = quorum_height(heads, k)
        if winner is None and height is not None:
            heads = await asyncio.gather(
                *(
                    self._fetch_head(m, height) if h is not None and h.number >= height else _none()
                    for m, h in zip(self._members, heads, strict=True)
                )
            )
            winner = vote(heads, k)
        if winner is None:
            tally = Counter(f"{h.number}:{h.hash[:10]}" for h in heads if h is not None)
            raise QuorumNotReached(k, dict(tally), method=HEAD_METHOD)
        at_height = {
            m.name: h
            for m, h in zip(self._members, heads, strict=True)
            if h is not None and h.number == winner.number
        }
        if len({h.hash for h in at_height.values()}) > 1:
            winner = await self._settle(winner, at_height, k)
        return winner

    async def _settle(self, winner: Head, reported: dict[str, Head], k: int) -> Head:
        """Endpoints disagree on the hash at ``winner``'s height: find the liar before
        penalising anyone.

        A hash counts the endpoints that reported it plus those that, asked by hash, return
        that very block. An endpoint that rewrites hashes cannot make an honest node know its
        invented block, while it usually still serves the real one: the honest hash gathers
        more support even with two endpoints. Only endpoints whose hash has strictly less
        support than the best are penalised; a tie penalises nobody.
        """
        by_name = {m.name: m for m in self._members}
        candidates = {h.hash: h for h in reported.values()}
        support = {
            block_hash: {name for name, h in reported.items() if h.hash == block_hash}
            for block_hash in candidates
        }
        asks = [
            (block_hash, member)
            for block_hash, names in support.items()
            for member in self._members
            if member.name not in names
        ]
        known = await asyncio.gather(
            *(self._knows(member, candidates[block_hash]) for block_hash, member in asks)
        )
        for (block_hash, member), yes in zip(asks, known, strict=True):
            if yes:
                support[block_hash].add(member.name)
        best = max(len(names) for names in support.values())
        leaders = [h for h, names in support.items() if len(names) == best]
        if len(leaders) > 1:
            _log.warning(
                "chain.head_disputed",
                block=winner.number,
                support={h[:10]: len(names) for h, names in support.items()},
            )
            return winner
        for name, head in reported.items():
            if head.hash != leaders[0]:
                dissent = MalformedResponse(
                    f"block {head.number} hash {head.hash[:10]}… is backed by "
                    f"{len(support[head.hash])} endpoints, {leaders[0][:10]}… by {best}",
                    endpoint=name,
                    method=HEAD_METHOD,
                )
                by_name[name].fail(dissent, counted_request=False)
        if best < k:
            return winner
        return candidates[leaders[0]]

    async def _knows(self, member: Member, head: Head) -> bool:
        try:
            block = await member.timed(
                "eth_getBlockByHash",
                member.client.request("eth_getBlockByHash", [head.hash, False]),
            )
        except EndpointError:
            return False
        if block is None:
            return False
        try:
            return parse_head(block, endpoint=member.name) == head
        except MalformedResponse:
            return False

    async def _refresh(self) -> list[Head | None]:
        heads = await asyncio.gather(*(self._fetch_head(m) for m in self._members))
        # Only this round's answers: a head remembered from earlier would make everyone lag.
        # With three or more answers, the best is a height two of them reached: one endpoint
        # claiming a far-future block must not turn every honest one stale.
        answered = sum(h is not None for h in heads)
        best = quorum_height(heads, 2 if answered >= 3 else 1) or 0
        now = self.clock()
        for member, head in zip(self._members, heads, strict=True):
            if head is None:
                continue
            member.stale = self.stale_guard.reason(head, best_number=best, now=now)
            if member.stale is not None:
                stale = StaleEndpoint(member.stale, endpoint=member.name, method=HEAD_METHOD)
                member.fail(stale, counted_request=False)
        return heads

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters per endpoint (redacted name): requests, failures, last error, score, stale."""
        return {
            m.name: {
                "priority": m.config.priority,
                "requests": m.health.requests,
                "failures": m.health.failures,
                "last_error": m.health.last_error,
                "score": round(m.health.score, 4),
                "stale": m.stale,
                "head": m.head.number if m.head else None,
            }
            for m in self._members
        }

    async def aclose(self) -> None:
        """Close every endpoint's connections."""
        await asyncio.gather(*(m.client.aclose() for m in self._members))

    def _ordered(self) -> list[Member]:
        return sorted(self._members, key=Member.sort_key)

    async def _failover_request(self, method: str, params: Sequence[Any]) -> Any:
        def check(result: Any, endpoint: str) -> None:
            check_result(method, params, result, endpoint=endpoint)

        return await self._failover(lambda m: m.client.request(method, params), method, check)

    async def _failover(
        self,
        send: Callable[[Member], Any],
        method: str,
        check: Callable[[Any, str], None],
    ) -> Any:
        errors: list[EndpointError] = []
        # The caller's answer (e.g. a revert) from one endpoint, held until another agrees:
        # an endpoint that answers every call with an error must not pass for a revert.
        held: tuple[Member, RpcError] | None = None
        for member in self._ordered():
            try:
                result = await member.timed(method, send(member))
                check(result, member.name)
            except RpcError as exc:
                if not exc.node_fault:
                    member.health.success()  # the node works; this is the caller's answer
                    if held is not None or len(self._members) == 1:
                        raise (held[1] if held is not None else exc) from None
                    held = (member, exc)
                    continue
                member.fail(exc)
                errors.append(exc)
                continue
            except EndpointError as exc:
                member.fail(exc)
                errors.append(exc)
                continue
            if held is not None and method not in _OWN_VIEW_METHODS:
                liar, refusal = held
                liar.fail(
                    RpcError(
                        refusal.code,
                        f"{refusal.message} (another endpoint answered)",
                        endpoint=liar.name,
                        method=method,
                    )
                )
            member.health.success()
            _log.debug("chain.served", endpoint=member.name, method=method)
            return result
        if held is not None:
            raise held[1]
        raise AllEndpointsFailed(method, errors)

    async def _fetch_head(self, member: Member, number: int | None = None) -> Head | None:
        tag = "latest" if number is None else hex(number)
        try:
            block = await member.timed(
                HEAD_METHOD, member.client.request(HEAD_METHOD, [tag, False])
            )
            head = parse_head(block, endpoint=member.name)
        except EndpointError as exc:
            member.fail(exc)
            return None
        member.health.success()
        if number is None:
            member.head = head
        return head


async def _none() -> None:
    return None
