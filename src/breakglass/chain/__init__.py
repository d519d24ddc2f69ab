"""Talking to chains: a raw JSON-RPC client and a pool of endpoints with failover.

``EndpointPool`` is the surface the rest of breakglass uses; ``RpcClient`` (HTTP) and
``WsRpcClient`` (WebSocket) talk to one endpoint; the middleware pieces (``Retry``,
``StaleGuard``) and ``HealthPolicy`` configure it. ``METRICS_REGISTRY`` holds the pools'
Prometheus metrics unless a pool is given a registry of its own.
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
from breakglass.chain.metrics import REGISTRY as METRICS_REGISTRY
from breakglass.chain.middleware import Handler, Head, Middleware, Retry, StaleGuard, compose
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.chain.rpc import DEFAULT_MAX_RESPONSE_BYTES, JsonRpcClient, RpcClient, redact_url
from breakglass.chain.ws import WsRpcClient

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "METRICS_REGISTRY",
    "AllEndpointsFailed",
    "Endpoint",
    "EndpointError",
    "EndpointPool",
    "Handler",
    "Head",
    "Health",
    "HealthPolicy",
    "HttpStatusError",
    "JsonRpcClient",
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
    "WsRpcClient",
    "compose",
    "redact_url",
]
