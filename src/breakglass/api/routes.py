"""The authenticated endpoints under ``/api``; each declares its permission."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import (
    BackgroundTasks,
    Body,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
)
from starlette.concurrency import run_in_threadpool

from breakglass.analysis.assets import incident_assets, read_units_now
from breakglass.analysis.headline import headline_figures
from breakglass.api.preview import ApprovalPreviewOut, preview_out
from breakglass.incidents import comms, service
from breakglass.incidents.lifecycle import UpdateStatus
from breakglass.report.wording import incident_alerts, incident_words
from breakglass.respond.records import step_exists
from breakglass.webcore.delivery import deliver_queued
from breakglass.webcore.registry import RouteTable
from breakglass.webcore.schemas import (
    MAX_ID,
    AccessOut,
    ApprovalOut,
    ApproveIn,
    DeadlineOut,
    ErrorOut,
    IncidentIn,
    IncidentOut,
    IncidentStatus,
    MeOut,
    NoteIn,
    PublicUpdateIn,
    PublicUpdateOut,
    RunOut,
    StepOut,
    TaskIn,
    TaskOut,
    TaskStatusIn,
    TickOut,
    TimelineEventOut,
    TransitionIn,
)
from breakglass.webcore.security import ADMIN, RESPONDER, VIEWER, state_of
from breakglass.webcore.tokens import Caller, access_of, live_token_count

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.plan.models import Plan

__all__ = ["add_api_routes"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409)
}
router = RouteTable("/api")
_log = structlog.get_logger("breakglass.api")
_ORDER = [str(status) for status in UpdateStatus]


def add_api_routes(app: FastAPI) -> None:
    """Add every ``/api`` endpoint to ``app``."""
    for method, path, endpoint, options in router.routes:
        app.add_api_route(path, endpoint, methods=[method], responses=_ERRORS, **options)


IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An incident's id.")]
Viewer = Annotated[Caller, Depends(VIEWER)]
Responder = Annotated[Caller, Depends(RESPONDER)]


@router.get("/me", tags=["access"])
def me(request: Request, caller: Viewer) -> MeOut:
    """Who the token belongs to and what it may do."""
    person = state_of(request).loaded.plan.people[caller.person]
    return MeOut(person=caller.person, name=person.name, access=str(caller.access))


@router.get("/access", tags=["access"], dependencies=[Depends(ADMIN)])
def access(request: Request) -> list[AccessOut]:
    """The plan's people, their API access and how many live tokens each holds."""
    state = state_of(request)
    plan = state.loaded.plan
    with state.sessions() as session:
        return [
            AccessOut(
                person=name,
                name=person.name,
                access=str(access_of(plan, name)),
                live_tokens=live_token_count(session, name),
            )
            for name, person in sorted(plan.people.items())
        ]


def _readable(session: Session, plan: Plan, incident_id: int) -> IncidentOut:
    """The incident with the title people read (the lead's, else the generated one) and
    its first alert's own title beside it."""
    found = IncidentOut.model_validate(service.get_incident(session, incident_id))
    words = incident_words(session, incident_id=incident_id, plan=plan)
    alerts = incident_alerts(session, incident_id)
    return found.model_copy(
        update={
            "title": words.title,
            "title_authored": words.title_authored,
            "alert_title": alerts[0].title if alerts else None,
        }
    )


@router.get("/incidents", tags=["incidents"], dependencies=[Depends(VIEWER)])
def list_incidents(
    request: Request,
    status: IncidentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentOut]:
    """Incidents, newest first; optionally only those in ``status``."""
    state = state_of(request)
    with state.sessions() as session:
        rows = service.list_incidents(session, status=status, limit=limit)
        return [_readable(session, state.loaded.plan, row.id) for row in rows]


@router.post("/incidents", status_code=201, tags=["incidents"])
def create_incident(request: Request, body: IncidentIn, caller: Responder) -> IncidentOut:
    """Open an incident by hand; the plan's roles are assigned to it."""
    state = state_of(request)
    plan = state.loaded.plan
    unknown = [c for c in body.chains if c not in plan.chains]
    unknown += [c for c in body.contracts if c not in plan.contracts]
    if unknown:
        raise HTTPException(400, f"not in the plan: {', '.join(unknown)}")
    with state.sessions() as session, session.begin():
        row = service.open_incident(
            session,
            plan,
            title=body.title,
            kind=body.kind,
            severity=body.severity,
            chains=body.chains,
            contracts=body.contracts,
            detected_at=body.detected_at or datetime.now(UTC),
            started_at=body.started_at,
            summary=body.summary,
            actor=caller.person,
            authored=True,  # a person wrote this title: it is the one readers see
        )
        return _readable(session, plan, row.id)


@router.get("/incidents/{incident_id}", tags=["incidents"], dependencies=[Depends(VIEWER)])
def get_incident(request: Request, incident_id: IncidentId) -> IncidentOut:
    """One incident, with its headline figures."""
    with state_of(request).sessions() as session:
        found = _readable(session, state_of(request).loaded.plan, incident_id)
        units = read_units_now(state_of(request).loaded.plan, incident_assets(session, incident_id))
        figures = headline_figures(session, incident_id=incident_id, units=units).rows()
        return found.model_copy(update={"headline": dict(figures)})


@router.get("/incidents/{incident_id}/clocks", tags=["incidents"], dependencies=[Depends(VIEWER)])
def regulatory_clocks(request: Request, incident_id: IncidentId) -> list[DeadlineOut]:
    """The incident's regulatory deadlines under the plan's regimes, as of now."""
    from breakglass.report.regulatory import clocks_for_incident  # noqa: PLC0415

    state = state_of(request)
    with state.sessions() as session:
        service.get_incident(session, incident_id)
        deadlines = clocks_for_incident(session, state.loaded.plan, incident_id, datetime.now(UTC))
    return [
        DeadlineOut(
            regime=d.regime,
            name=d.name,
            recipient=d.recipient,
            start_event=d.start_event,
            started_at=d.started_at,
            due=d.due,
            status=str(d.status),
            seconds_left=d.time_left.total_seconds() if d.time_left is not None else None,
            filed_at=d.filed_at,
            late=d.late,
        )
        for d in deadlines
    ]


@router.post("/incidents/{incident_id}/transitions", tags=["incidents"])
def transition(
    request: Request, incident_id: IncidentId, body: TransitionIn, caller: Responder
) -> IncidentOut:
    """Move the incident to another status, if the lifecycle allows it (else 409)."""
    from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import

    state = state_of(request)
    with state.sessions() as session, session.begin():
        row = service.transition(
            session,
            incident_id,
            body.to,
            actor=caller.person,
            note=body.note,
            duplicate_of=body.duplicate_of,
            notifier=Notifier(state.loaded.plan, state.sessions),
        )
        return _readable(session, state.loaded.plan, row.id)


@router.post("/incidents/{incident_id}/acknowledge", tags=["incidents"])
def acknowledge(request: Request, incident_id: IncidentId, caller: Responder) -> IncidentOut:
    """Take the incident; only the first acknowledgement counts."""
    state = state_of(request)
    with state.sessions() as session, session.begin():
        row = service.acknowledge(session, incident_id, actor=caller.person)
        return _readable(session, state.loaded.plan, row.id)


@router.post("/paging/acknowledgements", tags=["paging"])
async def paging_acknowledgement(
    request: Request,
    document: Annotated[dict[str, Any], Body()],
    caller: Responder,
    signature: Annotated[str | None, Header(alias="X-PagerDuty-Signature")] = None,
) -> dict[str, list[int]]:
    """A PagerDuty or Opsgenie acknowledgement webhook (send the token as a custom header):
    the pages of the incident it names are acknowledged as the token's person, and their
    escalation stops. 404 when it names no open breakglass page. When the plan gives a
    PagerDuty webhook secret, `X-PagerDuty-Signature` must match the raw body (else 401)."""
    from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import
    from breakglass.notify.errors import NotifyError  # noqa: PLC0415
    from breakglass.notify.external_paging import (  # noqa: PLC0415
        acknowledge_from_webhook,
        webhook_refusal,
    )

    state = state_of(request)
    body = await request.body()
    refusal = webhook_refusal(state.loaded.plan, body=body, signature=signature, document=document)
    if refusal is not None:
        raise HTTPException(*refusal)
    notifier = Notifier(state.loaded.plan, state.sessions)
    try:
        pages = await run_in_threadpool(
            acknowledge_from_webhook, notifier, document=document, person=caller.person
        )
    except NotifyError as exc:
        raise HTTPException(400, str(exc)) from None
    if not pages:
        raise HTTPException(404, "no open breakglass page for this incident")
    return {"acknowledged": pages}


@router.get("/incidents/{incident_id}/timeline", tags=["timeline"], dependencies=[Depends(VIEWER)])
def timeline(request: Request, incident_id: IncidentId) -> list[TimelineEventOut]:
    """The incident's timeline, oldest first (internal: notes, tasks, actions)."""
    with state_of(request).sessions() as session:
        service.get_incident(session, incident_id)
        return [TimelineEventOut.model_validate(e) for e in service.timeline(session, incident_id)]


@router.post("/incidents/{incident_id}/notes", status_code=201, tags=["timeline"])
def add_note(
    request: Request, incident_id: IncidentId, body: NoteIn, caller: Responder
) -> TimelineEventOut:
    """Add a note to the timeline; notes are internal and never reach the status page."""
    with state_of(request).sessions() as session, session.begin():
        event = service.add_note(session, incident_id, body.text, actor=caller.person)
        return TimelineEventOut.model_validate(event)


@router.get("/incidents/{incident_id}/tasks", tags=["tasks"], dependencies=[Depends(VIEWER)])
def incident_tasks(request: Request, incident_id: IncidentId) -> list[TaskOut]:
    """The incident's action items."""
    with state_of(request).sessions() as session:
        service.get_incident(session, incident_id)
        return [TaskOut.model_validate(t) for t in service.list_tasks(session, incident_id)]


@router.post("/incidents/{incident_id}/tasks", status_code=201, tags=["tasks"])
def add_task(request: Request, incident_id: IncidentId, body: TaskIn, caller: Responder) -> TaskOut:
    """Add an action item to the incident."""
    with state_of(request).sessions() as session, session.begin():
        task = service.add_task(
            session,
            incident_id,
            body.title,
            owner=body.owner,
            due_at=body.due_at,
            kind=body.kind,
            actor=caller.person,
        )
        return TaskOut.model_validate(task)


@router.get("/tasks", tags=["tasks"], dependencies=[Depends(VIEWER)])
def list_tasks(
    request: Request,
    incident_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[TaskOut]:
    """Every action item, or one incident's."""
    with state_of(request).sessions() as session:
        return [TaskOut.model_validate(t) for t in service.list_tasks(session, incident_id)]


@router.patch("/tasks/{task_id}", tags=["tasks"])
def set_task_status(
    request: Request,
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: TaskStatusIn,
    caller: Responder,
) -> TaskOut:
    """Mark a task open, done or cancelled."""
    with state_of(request).sessions() as session, session.begin():
        task = service.set_task_status(session, task_id, body.status, actor=caller.person)
        return TaskOut.model_validate(task)


@router.get("/updates", tags=["public updates"], dependencies=[Depends(VIEWER)])
def list_updates(
    request: Request,
    incident_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[PublicUpdateOut]:
    """Public updates, oldest first, with their authors."""
    with state_of(request).sessions() as session:
        rows = comms.public_updates(session, incident_id)
        return [PublicUpdateOut.model_validate(u) for u in rows]


@router.post("/incidents/{incident_id}/updates", status_code=201, tags=["public updates"])
def publish_update(
    request: Request,
    incident_id: IncidentId,
    body: PublicUpdateIn,
    caller: Responder,
    background: BackgroundTasks,
) -> PublicUpdateOut:
    """Publish a status-page update (investigating → identified → monitoring → resolved)
    and post it to the channels that take public events. Only members of the plan's
    `communication.spokesperson` role (else `comms`) and admins may (403 for others)."""
    from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import

    state = state_of(request)
    notifier = Notifier(state.loaded.plan, state.sessions)
    communication = state.loaded.plan.communication
    cadence = communication.update_cadence if communication is not None else None
    with state.sessions() as session, session.begin():
        latest = comms.public_updates(session, service.get_incident(session, incident_id).id)
        if latest and _ORDER.index(body.status) < _ORDER.index(latest[-1].status):
            raise HTTPException(
                409, f"public updates go forward only: the last one said {latest[-1].status}"
            )
        row = comms.publish_update(
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
        out = PublicUpdateOut.model_validate(row)
    background.add_task(deliver_queued, notifier)
    return out


@router.get("/runs", tags=["playbooks"], dependencies=[Depends(VIEWER)])
def list_runs(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[RunOut]:
    """The latest playbook runs with their steps, newest first. A step awaiting approval
    shows what it asks for (`approval`): target, decoded call, signer, chain, the action hash
    an approval must name, approvals so far and needed, and the expiry."""
    from breakglass.respond.service import list_runs as runs_of  # noqa: PLC0415
    from breakglass.webcore.approvals import approval_out  # noqa: PLC0415

    state = state_of(request)
    out = []
    for run, steps in runs_of(state.sessions, limit):
        fields = {k: getattr(run, k) for k in RunOut.model_fields if k != "steps"}
        shown = [StepOut.model_validate(s) for s in steps]
        for step in shown:
            if step.status == "awaiting-approval":
                step.approval = approval_out(state, step.id)
        out.append(RunOut(**fields, steps=shown))
    return out


@router.get("/steps/{step_id}/preview", tags=["playbooks"], dependencies=[Depends(RESPONDER)])
def preview(request: Request, step_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> ApprovalPreviewOut:
    """What approving a waiting step would do, before anyone approves it: the action (as in
    `GET /api/runs`) and its call simulated from the signer on the latest block, then its
    verification (`would succeed, emits Paused, 47,000 gas; paused() holds afterwards`, or
    the revert reason). Nothing is sent. 404 when the step is not waiting for approval."""
    found = preview_out(state_of(request), step_id)
    if found is None:
        raise HTTPException(404, f"step {step_id} is not waiting for an approval")
    return found


@router.post("/steps/{step_id}/approve", tags=["playbooks"])
def approve(
    request: Request,
    step_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ApproveIn,
    caller: Responder,
) -> ApprovalOut:
    """Approve a step waiting for approval, as the token's person (who must be in the
    step's approver role), naming the action hash `GET /api/runs` showed for it. Refused
    (409, nothing sent) when the step asks for another action, when the plan now builds
    another, when the request expired, and for a step of a dry run. With all the approvals
    the plan asks for, the run resumes with the plan's live chains and keys (`complete`);
    before that the approval is recorded and the step keeps waiting (`partial`)."""
    from breakglass.webcore.approvals import approve_bound  # noqa: PLC0415

    state = state_of(request)
    with state.sessions() as session:
        if not step_exists(session, step_id):
            raise HTTPException(404, f"there is no step {step_id}")
    return approve_bound(state, step_id=step_id, person=caller.person, action=body.action)


@router.post("/steps/{step_id}/tick", tags=["playbooks"])
def tick(
    request: Request, step_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: Responder
) -> TickOut:
    """Tick a manual checklist step done, as the token's person (who must be in the step's
    owner role); the run succeeds when it was the last step waiting."""
    from breakglass.respond.service import tick_step  # noqa: PLC0415

    state = state_of(request)
    with state.sessions() as session:
        if not step_exists(session, step_id):
            raise HTTPException(404, f"there is no step {step_id}")
    ticked = tick_step(state.loaded, state.sessions, step_id=step_id, person=caller.person)
    return TickOut(step_id=ticked.step_id, run_id=ticked.run_id, run_status=ticked.run_status)
