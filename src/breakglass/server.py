"""The HTTP server's app: the REST API and the dashboard on one FastAPI app.

The composition lives here, outside both: ``breakglass.api`` builds the API and takes
extensions, ``breakglass.web`` adds its pages to an app, and what they share is in
``breakglass.webcore``, so neither imports the other. ``breakglass serve`` and the demo
serve this app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.plan.loader import LoadedPlan

__all__ = ["create_app"]


def create_app(loaded_plan: LoadedPlan, sessions: sessionmaker[Session]) -> FastAPI:
    """The API and the dashboard of ``loaded_plan``'s protocol over ``sessions``.

    Raises:
        RuntimeError: a route declares no permission (a programming error).
    """
    from breakglass.api.app import create_app as create_api  # noqa: PLC0415 - FastAPI is slow
    from breakglass.web import add_web_routes  # noqa: PLC0415

    return create_api(loaded_plan, sessions, extend=[add_web_routes])
