"""The server-rendered dashboard: FastAPI + Jinja2 pages over the same services as the CLI
and the API, signed in with an API token that opens a server-side session (its random id in
an HttpOnly, SameSite=Strict cookie).

:func:`add_web_routes` adds the pages to an API app (``breakglass.server`` composes the two);
each page declares its permission like the API's endpoints do. The dashboard never imports
``breakglass.api``: what both need is in ``breakglass.webcore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["add_web_routes"]


def add_web_routes(app: FastAPI) -> None:
    """Add the dashboard's pages and forms to ``app``, and its sign-in and 403 handling."""
    from breakglass.web.routes import install  # noqa: PLC0415 - keeps imports lazy

    install(app)
