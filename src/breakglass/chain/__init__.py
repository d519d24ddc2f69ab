"""Talking to chains: a raw JSON-RPC client and a pool of endpoints with failover.

``EndpointPool`` is the surface the rest of breakglass uses; ``RpcClient`` talks to one
endpoint; the middleware pieces (``Retry``, ``StaleGuard``) and ``HealthPolicy`` configure it.
"""

from __future__ import annotations

from breakglass.chain.errors import (
    AllEndpointsFailed,
    EndpointError,
    HttpStatusError,
    MalformedResponse,
    QuorumNotReached,
    ResponseTooLarge,
    RpcError,
    StaleEndpoint,
    TransportError,
)
from breakglass.chain.health import Health, HealthPolicy
from breakglass.chain.middleware import Handler, Head, Middleware, Retry, StaleGuard, compose
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.chain.rpc import DEFAULT_MAX_RESPONSE_BYTES, RpcClient, redact_url

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AllEndpointsFailed",
    "Endpoint",
    "EndpointError",
    "EndpointPool",
    "Handler",
    "Head",
    "Health",
    "HealthPolicy",
    "HttpStatusError",
    "MalformedResponse",
    "Middleware",
    "QuorumNotReached",
    "ResponseTooLarge",
    "Retry",
    "RpcClient",
    "RpcError",
    "StaleEndpoint",
    "StaleGuard",
    "TransportError",
    "compose",
    "redact_url",
]
