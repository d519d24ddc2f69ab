"""The dashboard's forms (POST): sign in and out, and the incident actions a responder may
take. Each declares its permission; the incident actions also check the CSRF token.

A successful action redirects back to the incident page (POST/redirect/GET); a refused one
shows the page again with the reason, and the status the API would answer.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from breakglass.errors import BreakglassError
from breakglass.incidents import comms, service
from breakglass.incidents.lifecycle import UpdateStatus
from breakglass.respond.preview import StepPreview, preview_step
from breakglass.respond.records import step_exists
from breakglass.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    WEB_PUBLIC,
    WEB_RESPONDER,
    WEB_VIEWER_FORM,
    form_of,
    set_cookie,
)
from breakglass.web.pages import incident_page, safe_next
from breakglass.web.render import page
from breakglass.web.sessions import end_session, start_session
from breakglass.webcore.delivery import deliver_queued
from breakglass.webcore.errors import error_status
from breakglass.webcore.registry import RouteTable
from breakglass.webcore.schemas import MAX_ID, NoteIn, PublicUpdateIn, TransitionIn
from breakglass.webcore.security import AppState, state_of
from breakglass.webcore.tokens import Caller

__all__ = ["actions"]

actions = RouteTable("")
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An incident's id.")]
StepId = Annotated[int, Path(ge=1, le=MAX_ID, description="A step run's id.")]
Responder = Annotated[Caller, Depends(WEB_RESPONDER)]
_ORDER = [str(s) for s in UpdateStatus]
_ACTION_HASH = re.compile(r"0x[0-9a-fA-F]{16}")
_MAX_TITLE, _MAX_SUMMARY = 500, 10_000


class _Refused(BreakglassError):
    """A form the dashboard refuses before any service sees it."""


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def _act(
    request: Request, incident_id: int | None, work: Callable[[], object], anchor: str
) -> Response:
    """Run ``work``, then redirect to the incident; on a refusal, show the incident page
    (or an error page) with the reason and the status the API would answer."""
    try:
        work()
    except (ValidationError, BreakglassError) as exc:
        if isinstance(exc, ValidationError):
            message, status = _validation_message(exc), 400
        else:
            message, status = str(exc), error_status(exc)
        if incident_id is None:
            return page(request, "error.html.j2", {"message": message}, status_code=status)
        return incident_page(request, incident_id, error=message, status_code=status)
    target = f"/incidents/{incident_id}{anchor}" if incident_id is not None else "/incidents"
    return RedirectResponse(target, status_code=303)


async def _run(
    request: Request,
    incident_id: int | None,
    work: Callable[[Session], object],
    *,
    anchor: str = "",
    own_session: bool = False,
) -> Response:
    """:func:`_act` off the event loop (the services block; approving runs its own loop).
    ``work`` gets a session in a transaction, or None with ``own_session``."""

    def call() -> object:
        if own_session:
            return work(None)  # type: ignore[arg-type]
        with state_of(request).sessions() as session, session.begin():
            return work(session)

    return await run_in_threadpool(_act, request, incident_id, call, anchor)


@actions.post("/login", dependencies=[Depends(WEB_PUBLIC)], include_in_schema=False)
async def login(request: Request) -> Response:
    """Sign in with an API token; the session cookie holds it (HttpOnly, SameSite=Strict)."""
    form = await form_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get("csrf_token", "")
    target = safe_next(form.get("next"))
    opened = None
    if expected and hmac.compare_digest(expected.encode(), sent.encode()):
        state = state_of(request)
        with state.sessions() as session, session.begin():
            token = form.get("token", "").strip()
            opened = start_session(session, plan=state.loaded.plan, token=token)
    if opened is None:
        context = {
            "next": target,
            "login_csrf": expected or "",
            "error": "That token is not valid.",
        }
        if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
            context["error"] = "The sign-in form expired; try again."
        return page(request, "login.html.j2", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, opened[0], max_age=SESSION_MAX_AGE)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@actions.post("/logout", dependencies=[Depends(WEB_VIEWER_FORM)], include_in_schema=False)
def logout(request: Request) -> Response:
    """Sign out: end the session server-side (a copied cookie dies with it) and forget it."""
    state = state_of(request)
    with state.sessions() as session, session.begin():
        end_session(session, session_id=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@actions.post("/incidents/{incident_id}/acknowledge", include_in_schema=False)
async def acknowledge(request: Request, incident_id: IncidentId, caller: Responder) -> Response:
    """Take the incident; only the first acknowledgement counts."""
    return await _run(
        request, incident_id, lambda s: service.acknowledge(s, incident_id, actor=caller.person)
    )


@actions.post("/incidents/{incident_id}/transition", include_in_schema=False)
async def transition(request: Request, incident_id: IncidentId, caller: Responder) -> Response:
    """Move the incident along its lifecycle, as the API's transition does."""
    from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import

    form = await form_of(request)
    state = state_of(request)

    def work(session: Session) -> object:
        duplicate = form.get("duplicate_of") or None
        body = TransitionIn.model_validate(
            {
                "to": form.get("to", ""),
                "note": form.get("note") or None,
                "duplicate_of": int(duplicate) if duplicate and duplicate.isdigit() else None,
            }
        )
        return service.transition(
            session,
            incident_id,
            body.to,
            actor=caller.person,
            note=body.note,
            duplicate_of=body.duplicate_of,
            notifier=Notifier(state.loaded.plan, state.sessions),
        )

    return await _run(request, incident_id, work)


@actions.post("/incidents/{incident_id}/notes", include_in_schema=False)
async def add_note(request: Request, incident_id: IncidentId, caller: Responder) -> Response:
    """Add an internal note to the timeline."""
    form = await form_of(request)

    def work(session: Session) -> object:
        body = NoteIn.model_validate({"text": form.get("text", "")})
        return service.add_note(session, incident_id, body.text, actor=caller.person)

    return await _run(request, incident_id, work, anchor="#timeline")


@actions.post("/incidents/{incident_id}/words", include_in_schema=False)
async def edit_words(request: Request, incident_id: IncidentId, caller: Responder) -> Response:
    """The incident lead writes the title and summary readers see (the service refuses anyone
    else, naming the lead); a field left as it was shown is not changed."""
    form = await form_of(request)

    def work(session: Session) -> object:
        title, summary = form.get("title", ""), form.get("summary", "")
        if len(title) > _MAX_TITLE or len(summary) > _MAX_SUMMARY:
            raise _Refused(
                f"a title is at most {_MAX_TITLE} characters, a summary {_MAX_SUMMARY:,}"
            )
        changed = {
            name: value
            for name, value in (("title", title), ("summary", summary))
            if value.strip() != form.get(f"shown_{name}", "").strip()
        }
        return service.edit_incident(
            session,
            incident_id,
            actor=caller.person,
            title=changed.get("title"),
            summary=changed.get("summary"),
        )

    return await _run(request, incident_id, work)


@actions.post("/incidents/{incident_id}/updates", include_in_schema=False)
async def publish_update(request: Request, incident_id: IncidentId, caller: Responder) -> Response:
    """Publish a status-page update; statuses only go forward, as in the API, and the
    update is posted to the channels that take public events."""
    from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import

    form = await form_of(request)
    state = state_of(request)
    communication = state.loaded.plan.communication
    cadence = communication.update_cadence if communication is not None else None
    notifier = Notifier(state.loaded.plan, state.sessions)

    def work(session: Session) -> object:
        body = PublicUpdateIn.model_validate(
            {
                "status": form.get("status", ""),
                "title": form.get("title", ""),
                "body": form.get("body", ""),
            }
        )
        latest = comms.public_updates(session, service.get_incident(session, incident_id).id)
        if latest and _ORDER.index(body.status) < _ORDER.index(latest[-1].status):
            raise _Refused(f"public updates go forward only: the last one said {latest[-1].status}")
        return comms.publish_update(
            session,
            incident_id,
            body.status,
            body.title,
            body.body,
            actor=caller.person,
            cadence=cadence,
            notifier=notifier,
            plan=state.loaded.plan,
        )

    response = await _run(request, incident_id, work)
    response.background = BackgroundTask(deliver_queued, notifier)
    return response


@actions.post("/steps/{step_id}/approve", include_in_schema=False)
async def approve(request: Request, step_id: StepId, caller: Responder) -> Response:
    """Approve a waiting step, exactly as ``POST /api/steps/{id}/approve``: the form posts
    the action hash the page showed, so an action that changed since is refused.

    A step that sends a transaction is approved in two POSTs: the first simulates it and
    shows what it would do (contract, function, signer, simulated outcome); only the second,
    from that page, naming the same hash as ``confirmed``, approves. No transaction, on any
    chain, is one click away."""
    form = await form_of(request)
    shown = form.get("action", "").strip()
    confirmed = hmac.compare_digest(form.get("confirmed", "").strip().encode(), shown.encode())
    if _ACTION_HASH.fullmatch(shown) and not confirmed:
        preview = await run_in_threadpool(_preview, state_of(request), step_id)
        if preview is not None and _sends_transaction(preview, shown):
            context = {
                "preview": preview,
                "ask": preview.view,
                "sim": preview.simulation,
                "incident_id": _incident_of(form.get("incident_id", "")),
                "step_id": step_id,
            }
            return page(request, "approve.html.j2", context)

    def decide(state: AppState) -> object:
        from breakglass.respond.decisions import waiting_step  # noqa: PLC0415
        from breakglass.webcore.approvals import approve_bound  # noqa: PLC0415

        if not _ACTION_HASH.fullmatch(shown):
            # A step that cannot be approved at all says why first (a dry run's, say).
            waiting_step(state.sessions, step_id, ("awaiting-approval",), "approved")
            raise _Refused(
                "the approval did not name the action it approves; reload the incident "
                "page, check what the step will send and approve again"
            )
        return approve_bound(state, step_id=step_id, person=caller.person, action=shown)

    return await _decide_step(request, step_id, decide)


def _preview(state: AppState, step_id: int) -> StepPreview | None:
    """The step's simulation, or None when it cannot be approved at all (a dry run's, one
    decided already): the approval itself then refuses it and says why."""
    from breakglass.respond.decisions import waiting_step  # noqa: PLC0415

    try:
        waiting_step(state.sessions, step_id, ("awaiting-approval",), "approved")
    except BreakglassError:
        return None
    return preview_step(state.loaded, state.sessions, step_id=step_id)


def _sends_transaction(preview: StepPreview, shown: str) -> bool:
    """Whether the step asks for the action shown and that action sends a transaction (a
    step asking for another is left to the approval, which refuses it and says why)."""
    action = preview.view.action
    return action is not None and action.hash == shown.lower() and action.call is not None


@actions.post("/steps/{step_id}/tick", include_in_schema=False)
async def tick(request: Request, step_id: StepId, caller: Responder) -> Response:
    """Tick a manual checklist step done, exactly as ``POST /api/steps/{id}/tick``."""

    def decide(state: AppState) -> object:
        from breakglass.respond.service import tick_step  # noqa: PLC0415

        return tick_step(state.loaded, state.sessions, step_id=step_id, person=caller.person)

    return await _decide_step(request, step_id, decide)


async def _decide_step(
    request: Request, step_id: int, decide: Callable[[AppState], object]
) -> Response:
    """Run ``decide`` on an existing step, then go back to the incident the form came from
    (the services open their own sessions; approving runs its own event loop)."""
    form = await form_of(request)
    incident_id = _incident_of(form.get("incident_id", ""))

    def work(_: Session) -> object:
        state = state_of(request)
        with state.sessions() as session:
            if not step_exists(session, step_id):
                raise _Refused(f"there is no step {step_id}")
        return decide(state)

    return await _run(request, incident_id, work, anchor="#steps", own_session=True)


def _incident_of(value: str) -> int | None:
    """The incident page to return to, from a form's hidden field."""
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_ID else None
