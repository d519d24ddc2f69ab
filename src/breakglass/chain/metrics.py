"""Prometheus metrics of endpoint pools, in a registry of their own.

The default registry is :data:`REGISTRY` here, not prometheus-client's global one, so tests and
embedders pass their own :class:`~prometheus_client.CollectorRegistry` without colliding. Label
values are redacted endpoint names; a URL (which may hold an API key) never becomes a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from weakref import WeakKeyDictionary, WeakValueDictionary

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from breakglass.chain.health import Health

__all__ = ["REGISTRY", "EndpointMetrics", "RpcMetrics", "rpc_metrics"]

REGISTRY = CollectorRegistry()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _HealthCollector(Collector):
    """Reads scores at scrape time: a score recovers with time, between events too."""

    def __init__(self) -> None:
        self.healths: WeakValueDictionary[str, Health] = WeakValueDictionary()

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "breakglass_endpoint_health",
            "Endpoint health score in [0, 1]; below the policy's healthy_at it is avoided.",
            labels=["endpoint"],
        )
        for name, health in sorted(self.healths.items()):
            family.add_metric([name], health.score)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("breakglass_endpoint_health", "", labels=["endpoint"])


class RpcMetrics:
    """The instruments of one registry. Get them with :func:`rpc_metrics`, which shares them:
    a registry refuses a second metric of the same name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "breakglass_rpc_requests",
            "JSON-RPC requests (a batch counts once) sent to an endpoint.",
            ["chain", "endpoint", "method"],
            registry=registry,
        )
        self.failures = Counter(
            "breakglass_rpc_failures",
            "Endpoint failures by kind (transport, http_status, malformed, rpc, stale, ...).",
            ["endpoint", "kind"],
            registry=registry,
        )
        self.latency = Histogram(
            "breakglass_rpc_latency_seconds",
            "Seconds from sending a request to an endpoint to its answer or failure.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._health = _HealthCollector()
        registry.register(self._health)

    def endpoint(self, *, chain: str, endpoint: str, health: Health) -> EndpointMetrics:
        """The instruments for one endpoint; its ``health`` score is exported while it lives."""
        self._health.healths[endpoint] = health
        return EndpointMetrics(self, chain=chain, endpoint=endpoint)


class EndpointMetrics:
    """One endpoint's view of :class:`RpcMetrics`."""

    def __init__(self, metrics: RpcMetrics, *, chain: str, endpoint: str) -> None:
        self._metrics = metrics
        self._chain = chain
        self._endpoint = endpoint

    def request(self, method: str, seconds: float) -> None:
        """Count a request to ``method`` that took ``seconds``, served or failed."""
        self._metrics.requests.labels(self._chain, self._endpoint, method).inc()
        self._metrics.latency.labels(self._endpoint).observe(seconds)

    def failure(self, kind: str) -> None:
        """Count a failure of ``kind`` (an :class:`EndpointError` ``kind``)."""
        self._metrics.failures.labels(self._endpoint, kind).inc()


_by_registry: WeakKeyDictionary[CollectorRegistry, RpcMetrics] = WeakKeyDictionary()


def rpc_metrics(registry: CollectorRegistry | None = None) -> RpcMetrics:
    """The instruments registered in ``registry`` (default :data:`REGISTRY`), made once."""
    registry = REGISTRY if registry is None else registry
    metrics = _by_registry.get(registry)
    if metrics is None:
        metrics = _by_registry[registry] = RpcMetrics(registry)
    return metrics
