"""The dashboard's pages (GET): sign-in, incidents, an incident, its live timeline, the
plan's checks and coverage, drills, and the static files. Each declares its permission."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from breakglass.analysis.assets import incident_assets, read_units_now
from breakglass.analysis.headline import headline_figures
from breakglass.incidents import service
from breakglass.incidents.lifecycle import SEVERITIES, Status, UpdateStatus
from breakglass.plan.checks import CheckStatus, check_plan
from breakglass.report.wording import incident_words
from breakglass.web import data
from breakglass.web.auth import (
    LOGIN_CSRF_COOKIE,
    WEB_PUBLIC,
    WEB_VIEWER,
    new_login_csrf,
    set_cookie,
)
from breakglass.web.render import STATIC_DIR, page
from breakglass.webcore.registry import RouteTable
from breakglass.webcore.schemas import MAX_ID
from breakglass.webcore.security import state_of

__all__ = ["pages", "safe_next"]

pages = RouteTable("")
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An incident's id.")]
_PUBLIC = [Depends(WEB_PUBLIC)]
_VIEWER = [Depends(WEB_VIEWER)]
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/incidents"


@pages.get("/", dependencies=_PUBLIC, include_in_schema=False)
def home() -> RedirectResponse:
    """The dashboard starts at the incidents."""
    return RedirectResponse("/incidents", status_code=303)


@pages.get("/login", dependencies=_PUBLIC, include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in page: paste an API token from ``breakglass token create``."""
    value = new_login_csrf()
    response = page(
        request,
        "login.html.j2",
        {"next": safe_next(next), "login_csrf": value, "error": None},
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, value, max_age=3600)
    return response


@pages.get("/static/{name}", dependencies=_PUBLIC, include_in_schema=False)
def static(name: Annotated[str, Path(pattern=r"^[a-z0-9-]+\.(css|js)$")]) -> FileResponse:
    """The dashboard's stylesheet and scripts."""
    path = STATIC_DIR / name
    if not path.is_file():
        raise HTTPException(404, f"there is no static file {name}")
    media_type = _STATIC_TYPES[path.suffix]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=300"})


@pages.get("/incidents", dependencies=_VIEWER, include_in_schema=False)
def incidents(
    request: Request,
    status: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=2)] = None,
) -> HTMLResponse:
    """Incidents, newest first, filterable by status and severity."""
    status = status if status in {str(s) for s in Status} else None
    severity = severity if severity in SEVERITIES else None
    state = state_of(request)
    rows = data.incident_list(state.sessions, status=status, severity=severity)
    with state.sessions() as session:  # the lead's title, else one in plain words
        titles = {
            r.id: incident_words(session, incident_id=r.id, plan=state.loaded.plan).title
            for r in rows
        }
    context: dict[str, Any] = {
        "incidents": rows,
        "titles": titles,
        "statuses": [str(s) for s in Status],
        "severities": SEVERITIES,
        "status": status,
        "severity": severity,
    }
    return page(request, "incidents.html.j2", context)


def incident_page(
    request: Request, incident_id: int, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    """The incident page, optionally with the error of a refused action."""
    state = state_of(request)
    view = data.incident_view(state.loaded, state.sessions, incident_id)
    with state.sessions() as session:
        wanted = incident_assets(session, incident_id)
    units = read_units_now(state.loaded.plan, wanted)  # each token read once per process
    with state.sessions() as session:
        headline = headline_figures(session, incident_id=incident_id, units=units).rows()
        words = incident_words(
            session, incident_id=incident_id, plan=state.loaded.plan, units=units
        )
    context: dict[str, Any] = {
        "view": view,
        "i": view.incident,
        "words": words,
        "headline": headline,
        "waiting": data.waiting_steps(view),
        "approvals": data.approval_views(state.loaded, state.sessions, view),
        "update_statuses": [str(s) for s in UpdateStatus],
        "error": error,
        "now": datetime.now(UTC),
    }
    return page(request, "incident.html.j2", context, status_code=status_code)


@pages.get("/incidents/{incident_id}", dependencies=_VIEWER, include_in_schema=False)
def incident(request: Request, incident_id: IncidentId) -> HTMLResponse:
    """One incident: status, actions, live timeline, alerts, steps, evidence, losses, clocks."""
    return incident_page(request, incident_id)


@pages.get("/incidents/{incident_id}/timeline", dependencies=_VIEWER, include_in_schema=False)
def incident_timeline(request: Request, incident_id: IncidentId) -> HTMLResponse:
    """The timeline fragment the incident page refreshes every few seconds."""
    state = state_of(request)
    events = data.incident_timeline(state.sessions, incident_id)
    with state.sessions() as session:
        chains = service.get_incident(session, incident_id).chains
    context = {"events": events, "incident_id": incident_id, "chain": next(iter(chains), None)}
    return page(request, "_timeline.html.j2", context)


@pages.get("/plan", dependencies=_VIEWER, include_in_schema=False)
def plan(request: Request) -> HTMLResponse:
    """The plan's check results and its coverage of scenarios by detection and mitigation."""
    from breakglass.detect import plancheck  # noqa: F401, PLC0415 - importing registers it
    from breakglass.respond import plancheck as _respond  # noqa: F401, PLC0415

    loaded = state_of(request).loaded
    report = check_plan(loaded, today=datetime.now(UTC).date())
    counts = {str(s): sum(1 for r in report.results if r.status is s) for s in CheckStatus}
    context = {"report": report, "counts": counts, "file": loaded.file}
    return page(request, "plan.html.j2", context)


@pages.get("/drills", dependencies=_VIEWER, include_in_schema=False)
def drills(request: Request) -> HTMLResponse:
    """Drills run against the plan and their reports."""
    return page(request, "drills.html.j2", {"drills": data.drills(state_of(request).sessions)})
