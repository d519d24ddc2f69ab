"""A table of endpoints filled by decorators, added to an app in one go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Endpoint", "RouteTable"]

Endpoint = Callable[..., Any]


class RouteTable:
    """Collects endpoints with decorators, to be added to an app with ``add_api_route``.

    Routes are added to the app itself, not through ``include_router``, so ``app.routes``
    lists every endpoint and the permission check can see each one.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.routes: list[tuple[str, str, Endpoint, dict[str, Any]]] = []

    def _add(self, method: str, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        def decorate(endpoint: Endpoint) -> Endpoint:
            self.routes.append((method, self.prefix + path, endpoint, options))
            return endpoint

        return decorate

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self._add("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self._add("POST", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self._add("PATCH", path, **options)
