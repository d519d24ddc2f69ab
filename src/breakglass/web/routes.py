"""Wire the dashboard into an app: its routes and the handling of its two signals."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from breakglass.errors import BreakglassError
from breakglass.web.actions import actions
from breakglass.web.auth import WebForbidden, WebLoginNeeded
from breakglass.web.pages import pages
from breakglass.web.render import page
from breakglass.webcore.errors import error_status

__all__ = ["install", "is_web_path"]

_WEB_PREFIXES = ("/incidents", "/plan", "/drills", "/steps")


async def _login_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebLoginNeeded)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebForbidden)
    return page(request, "error.html.j2", {"message": exc.message}, status_code=403)


async def _refused(request: Request, exc: Exception) -> Response:
    """A refused operation: an HTML page on the dashboard, the API's JSON elsewhere."""
    assert isinstance(exc, BreakglassError)
    status = error_status(exc)
    if is_web_path(request.url.path):
        return page(request, "error.html.j2", {"message": str(exc)}, status_code=status)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install(app: FastAPI) -> None:
    """Add every dashboard route to ``app`` (on the app itself, so the permission check
    sees each one) and the handlers that turn its signals into a redirect or a 403 page."""
    for table in (pages, actions):
        for method, path, endpoint, options in table.routes:
            app.add_api_route(path, endpoint, methods=[method], **options)
    app.add_exception_handler(WebLoginNeeded, _login_needed)
    app.add_exception_handler(WebForbidden, _forbidden)
    app.add_exception_handler(BreakglassError, _refused)


def is_web_path(path: str) -> bool:
    """Whether ``path`` is a dashboard page (not the API or the status page)."""
    return path.startswith(_WEB_PREFIXES)
