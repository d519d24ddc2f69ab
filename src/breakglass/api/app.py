"""The FastAPI application: :func:`create_app` wires the plan, the database, the routes,
the public status endpoints and the error handling together; the whole server (the API
and the dashboard) is composed by ``breakglass.server``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from breakglass import __version__
from breakglass.api.guard import BodyGuard, SafeJsonRoute
from breakglass.api.routes import add_api_routes
from breakglass.errors import BreakglassError
from breakglass.plan.loader import LoadedPlan
from breakglass.report.status import (
    public_content,
    render_atom,
    render_html,
    render_json,
    status_document,
)
from breakglass.webcore.errors import error_status
from breakglass.webcore.security import PUBLIC, AppState, permission_of, state_of

__all__ = ["create_app"]

ATOM_TYPE = "application/atom+xml; charset=utf-8"


async def _breakglass_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BreakglassError)
    return JSONResponse({"detail": str(exc)}, status_code=error_status(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's errors as JSON; a 405 names every method the path allows, not just
    those of the first route that matched it."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        path = request.url.path
        methods = {
            method
            for route in request.app.routes
            if isinstance(route, APIRoute) and route.path_regex.match(path)
            for method in route.methods or ()
        }
        allow = ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": allow})
    return await http_exception_handler(request, exc)


def _public_document(request: Request) -> dict[str, Any]:
    state = state_of(request)
    with state.sessions() as session:
        updates, incidents = public_content(session)
        plan = state.loaded.plan
        return status_document(plan.protocol, updates, incidents, plan=plan)


def _add_public_routes(app: FastAPI) -> None:
    public = [Depends(PUBLIC)]

    @app.get(
        "/status.json",
        tags=["status page"],
        dependencies=public,
        response_model=dict[str, Any],
        response_class=JSONResponse,
    )
    def status_json(request: Request) -> Response:
        """The public status page as JSON (the same bytes as the static ``status.json``)."""
        return Response(render_json(_public_document(request)), media_type="application/json")

    @app.get("/status", tags=["status page"], dependencies=public, response_class=HTMLResponse)
    def status_html(request: Request) -> HTMLResponse:
        """The public status page (the same as the static ``index.html``)."""
        return HTMLResponse(render_html(_public_document(request)))

    @app.get(
        "/feed.atom",
        tags=["status page"],
        dependencies=public,
        response_class=Response,
        responses={200: {"content": {"application/atom+xml": {}}}},
    )
    def status_atom(request: Request) -> Response:
        """The public status updates as an Atom feed (the same as the static ``feed.atom``)."""
        return Response(render_atom(_public_document(request)), media_type=ATOM_TYPE)

    @app.get("/openapi.json", dependencies=public, include_in_schema=False)
    def openapi() -> JSONResponse:
        """This API's OpenAPI document."""
        return JSONResponse(app.openapi())


def create_app(
    loaded_plan: LoadedPlan,
    sessions: sessionmaker[Session],
    *,
    extend: Iterable[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The API of ``loaded_plan``'s protocol over the database behind ``sessions``, with
    what each of ``extend`` adds (``breakglass.server`` adds the dashboard this way, so the
    API never imports it); every route must declare its permission.

    Raises:
        RuntimeError: a route declares no permission (a programming error).
    """
    app = FastAPI(
        title=f"breakglass: {loaded_plan.plan.protocol}",
        version=__version__,
        description="Incident response API. Send `Authorization: Bearer <token>` "
        "(from `breakglass token create PERSON`); `/status*` and `/feed.atom` are public.",
        openapi_url=None,  # served below, as a route that declares it is public
        docs_url=None,
        redoc_url=None,
    )
    app.state.breakglass = AppState(loaded_plan, sessions)
    app.router.route_class = SafeJsonRoute
    app.add_middleware(BodyGuard)
    app.add_exception_handler(BreakglassError, _breakglass_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    add_api_routes(app)
    _add_public_routes(app)
    for add in extend:
        add(app)
    undeclared = [
        getattr(route, "path", repr(route))
        for route in app.routes
        if not isinstance(route, APIRoute) or permission_of(route) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without a declared permission: {', '.join(undeclared)}")
    return app
