"""Errors of the chain package.

Every error carries the redacted endpoint and the JSON-RPC method it happened on::

    ChainError (breakglass.errors)
    ├── EndpointError           one endpoint failed; another endpoint may well succeed
    │   ├── TransportError      connection refused/reset, timeout
    │   ├── HttpStatusError     HTTP 429 or 5xx (``status``)
    │   ├── MalformedResponse   not JSON, not a JSON-RPC envelope, batch ids missing
    │   ├── ResponseTooLarge    body over the client's size cap
    │   ├── StaleEndpoint       head too far behind, or its timestamp too old
    │   └── RpcError            a JSON-RPC error envelope (``code``, ``message``, ``data``)
    ├── AllEndpointsFailed      every attempt on every endpoint failed (``errors``)
    └── QuorumNotReached        fewer than k endpoints agreed on the head hash

``RpcError.node_fault`` tells node trouble (failover) from the caller's answer (re-raised as it
is, e.g. "execution reverted").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from breakglass.errors import ChainError

__all__ = [
    "AllEndpointsFailed",
    "EndpointError",
    "HttpStatusError",
    "MalformedResponse",
    "QuorumNotReached",
    "ResponseTooLarge",
    "RpcError",
    "StaleEndpoint",
    "TransportError",
]

# Codes standardised (EIP-1474) or used by geth/erigon/anvil/providers for node-side trouble.
_NODE_FAULT_CODES = frozenset({-32603, -32601, -32005, -32002, -32001, 429})
# Markers of node trouble in the catch-all -32000 message; anything else is the caller's answer.
_NODE_FAULT_MARKERS = (
    "header not found",
    "missing trie node",
    "unknown block",
    "not found",
    "syncing",
    "timeout",
    "timed out",
    "rate limit",
    "too many",
    "limit exceeded",
    "capacity",
    "unavailable",
    "busy",
    "internal",
)
_CALLER_MARKERS = (
    "revert",
    "insufficient funds",
    "nonce",
    "gas",
    "already known",
    "underpriced",
    # A log query over too wide a range: every endpoint says the same, the caller must split.
    "returned more than",
    "block range",
    "range too large",
    "range is too large",
    "too many results",
    "response size",
)


class EndpointError(ChainError):
    """One endpoint failed; failing over to another one makes sense."""

    kind: ClassVar[str] = "endpoint"

    def __init__(self, detail: str, *, endpoint: str, method: str) -> None:
        self.endpoint = endpoint
        self.method = method
        self.detail = detail
        super().__init__(f"{method} on {endpoint}: {detail}")


class TransportError(EndpointError):
    """The connection failed or timed out."""

    kind = "transport"


class HttpStatusError(EndpointError):
    """The endpoint answered HTTP 429 or 5xx."""

    kind = "http_status"

    def __init__(self, status: int, *, endpoint: str, method: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}", endpoint=endpoint, method=method)


class MalformedResponse(EndpointError):
    """The body is not a well-formed JSON-RPC response."""

    kind = "malformed"


class ResponseTooLarge(EndpointError):
    """The body is larger than the client accepts."""

    kind = "too_large"


class StaleEndpoint(EndpointError):
    """The endpoint's head lags the best known head or is too old."""

    kind = "stale"


class RpcError(EndpointError):
    """The endpoint answered with a JSON-RPC error envelope."""

    kind = "rpc"

    def __init__(
        self, code: int, message: str, *, data: Any = None, endpoint: str, method: str
    ) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"JSON-RPC error {code}: {message}", endpoint=endpoint, method=method)

    @property
    def node_fault(self) -> bool:
        """Whether the error is the node's trouble (fail over) rather than the caller's answer."""
        text = self.message.lower()
        if self.code == 3 or any(marker in text for marker in _CALLER_MARKERS):
            return False
        if self.code in _NODE_FAULT_CODES:
            return True
        return self.code == -32000 and any(marker in text for marker in _NODE_FAULT_MARKERS)


class AllEndpointsFailed(ChainError):
    """Every attempt on every endpoint failed; ``errors`` holds each failure in order."""

    def __init__(self, method: str, errors: Sequence[EndpointError]) -> None:
        self.method = method
        self.errors = tuple(errors)
        tried = "; ".join(f"{e.endpoint}: {e.kind} ({e.detail})" for e in self.errors[-6:])
        super().__init__(
            f"{method}: all endpoints failed after {len(self.errors)} attempts: {tried or 'none'}"
        )


class QuorumNotReached(ChainError):
    """Fewer than ``needed`` endpoints agreed on one head hash."""

    def __init__(self, needed: int, votes: dict[str, int], *, method: str) -> None:
        self.needed = needed
        self.votes = dict(votes)
        self.method = method
        super().__init__(f"{method}: no head hash has {needed} agreeing endpoints (votes {votes})")
