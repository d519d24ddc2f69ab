"""The REST API: FastAPI app factory, bearer-token authentication and viewer < responder <
admin permissions taken from the plan's people. :func:`create_app` builds the API alone;
``breakglass.server.create_app`` adds the dashboard (``breakglass.web``), which the API never
imports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breakglass.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported only by what serves the API, not by ``breakglass token``.
    if name == "create_app":
        from breakglass.api.app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(name)
