"""People deciding steps that wait for them: who may, on which steps, and ticking a
checklist item.

Only steps of live runs can be decided. A dry run rehearsed the playbook on a throwaway
fork; approving or ticking one of its steps would carry the rehearsal onto the real chain
(and page real people), so it is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.response import Mode, Step
from breakglass.respond.actions.base import Action
from breakglass.respond.runner import approver_role
from breakglass.respond.templates import step_action
from breakglass.store.models import PlaybookRun, StepEvent, StepRun

__all__ = [
    "ApprovalError",
    "ApprovalRequest",
    "TickResult",
    "Waiting",
    "approval_request",
    "check_binding",
    "check_member",
    "decide",
    "record_approval",
    "refresh_run_status",
    "requested_action",
    "run_positions",
    "tick_step",
    "waiting_step",
]

# Statuses a checklist item waits in: ``todo``, and ``waiting`` as runs stored it before.
_TICKABLE = ("todo", "waiting")


class ApprovalError(BreakglassError):
    """The step is not waiting for this, or the person may not decide it."""


@dataclass(frozen=True)
class Waiting:
    run: PlaybookRun
    step: StepRun


def waiting_step(
    sessions: sessionmaker[Session], step_id: int, statuses: tuple[str, ...], verb: str
) -> Waiting:
    """The stored step ``step_id`` of a live run, in one of ``statuses``.

    Raises:
        ApprovalError: no such step, it belongs to a dry run, or it is in another status.
    """
    with sessions() as session:
        step = session.get(StepRun, step_id)
        if step is None:
            raise ApprovalError(f"there is no step {step_id}")
        run = session.get(PlaybookRun, step.run_id)
        assert run is not None
        if run.dry_run:
            raise ApprovalError(
                f"step {step_id} belongs to dry run {run.id} of {run.playbook}, a rehearsal on "
                f"a throwaway fork; it cannot be {verb}. Run the playbook for real "
                f"(`breakglass playbook run {run.playbook}`) to act on the chain"
            )
        if step.status not in statuses:
            raise ApprovalError(f"step {step_id} is {step.status}, not {' or '.join(statuses)}")
        return Waiting(run, step)


def check_member(loaded: LoadedPlan, role: str | None, person: str) -> None:
    """Raises :class:`ApprovalError` unless ``person`` is in the plan and in ``role``."""
    if person not in loaded.plan.people:
        raise ApprovalError(f"the plan has no person {person!r}")
    if role is None:
        return
    members = loaded.plan.roles[role].members if role in loaded.plan.roles else []
    if person not in members:
        raise ApprovalError(
            f"{person} is not in role {role} ({', '.join(members) or 'no members'}), "
            "who decide this step"
        )


def decide(
    sessions: sessionmaker[Session], step_id: int, expected: str, status: str, person: str
) -> None:
    """Move the step from ``expected`` to ``status`` in one conditional UPDATE, so that of
    two people deciding at once only one resumes the run (and sends its transaction)."""
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        claimed = session.execute(
            update(StepRun)
            .where(StepRun.id == step_id, StepRun.status == expected)
            .values(status=status, decided_by=person, updated_at=now)
            .returning(StepRun.id)
        ).all()
        if not claimed:
            raise ApprovalError(f"step {step_id} is no longer {expected}; someone decided it")
        session.add(StepEvent(step_id=step_id, phase=status, at=now, detail={"by": person}))


@dataclass(frozen=True)
class ApprovalRequest:
    """What a waiting approval step asks for: the hash of the exact action it would carry
    out (None for a step stored before approvals were bound), how many different people
    must approve, who has, and until when; with the alert fields (``context``) and the
    chain the action was built for, so the approval rebuilds the same action."""

    step_id: int
    action: str | None
    needed: int
    approved_by: tuple[str, ...]
    requested_at: datetime
    expires_at: datetime
    context: Mapping[str, Any] | None = None
    chain: str | None = None


_DEFAULT_TTL = timedelta(hours=1)
_DECIDED = "step {} is no longer awaiting-approval; someone decided it"


def approval_request(sessions: sessionmaker[Session], step_id: int) -> ApprovalRequest | None:
    """The approval step ``step_id`` is waiting for, from its latest ``waiting`` event;
    None when it never waited for approval."""
    with sessions() as session:
        events = session.scalars(
            select(StepEvent).where(StepEvent.step_id == step_id).order_by(StepEvent.id)
        ).all()
    asked = [e for e in events if e.phase == "waiting" and "approver" in (e.detail or {})]
    if not asked:
        return None
    latest = asked[-1]
    detail = latest.detail or {}
    votes = [e for e in events if e.phase == "approval" and e.id > latest.id]
    ttl = detail.get("expires_after_s")
    requested = latest.at if latest.at.tzinfo else latest.at.replace(tzinfo=UTC)
    return ApprovalRequest(
        step_id=step_id,
        action=detail.get("action"),
        needed=int(detail.get("approvals", 1)),
        approved_by=tuple(str(e.detail["by"]) for e in votes),
        requested_at=requested,
        expires_at=requested + (timedelta(seconds=float(ttl)) if ttl else _DEFAULT_TTL),
        context=detail.get("context"),
        chain=detail.get("chain"),
    )


def check_binding(
    request: ApprovalRequest | None,
    *,
    current: str,
    summary: str,
    shown: str | None = None,
    now: datetime | None = None,
) -> None:
    """Refuse an approval the request does not cover.

    Args:
        current: the hash of the action the plan builds for the step now.
        shown: the hash the approver was shown and approves (``--action``), if given.

    Raises:
        ApprovalError: the request expired, predates bound approvals, names another action
            than the one shown, or the plan now builds a different action.
    """
    if request is None or request.action is None:
        raise ApprovalError(
            "this approval request was stored without the action it approves; "
            "run the playbook again to ask for a bound approval"
        )
    step = request.step_id
    if (now or datetime.now(UTC)) > request.expires_at:
        raise ApprovalError(
            f"the approval request of step {step} expired at "
            f"{request.expires_at:%Y-%m-%d %H:%M:%S} UTC; run the playbook again"
        )
    if shown is not None and shown.lower() != request.action.lower():
        raise ApprovalError(
            f"step {step} asks to approve action {request.action}, not {shown}; "
            "check `breakglass playbook runs`"
        )
    if current != request.action:
        raise ApprovalError(
            f"refused: the plan now builds a different action for step {step} ({current}: "
            f"{summary}) than the one approval was asked for ({request.action}); "
            "run the playbook again to approve what it does now"
        )


def record_approval(
    sessions: sessionmaker[Session], *, step_id: int, person: str, action: str, needed: int
) -> tuple[tuple[str, ...], bool]:
    """Add ``person``'s approval of ``action``; once ``needed`` different people approved,
    claim the step (``approved``) for one caller to resume the run.

    Returns:
        Everyone who approved so far, and whether this approval completed the step.

    Raises:
        ApprovalError: the step no longer waits, or ``person`` approved it already.
    """
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        # Approvers of one step take turns, so two at once cannot both be "the first".
        session.execute(select(StepRun.id).where(StepRun.id == step_id).with_for_update())
        status = session.scalar(select(StepRun.status).where(StepRun.id == step_id))
        if status != "awaiting-approval":
            raise ApprovalError(_DECIDED.format(step_id))
        events = session.scalars(
            select(StepEvent).where(StepEvent.step_id == step_id).order_by(StepEvent.id)
        ).all()
        asked = max((e.id for e in events if e.phase == "waiting"), default=0)
        earlier = [str(e.detail["by"]) for e in events if e.phase == "approval" and e.id > asked]
        if person in earlier:
            more = needed - len(earlier)
            then = (
                f"it needs {more} more, from other members"
                if more > 0
                else "that approval is being carried out"
            )
            raise ApprovalError(f"{person} approved step {step_id} already; {then}")
        session.add(
            StepEvent(
                step_id=step_id, phase="approval", at=now, detail={"by": person, "action": action}
            )
        )
        approvers = (*earlier, person)
        if len(approvers) < needed:
            return approvers, False
        by = ", ".join(approvers)
        claimed = session.execute(
            update(StepRun)
            .where(StepRun.id == step_id, StepRun.status == "awaiting-approval")
            .values(status="approved", decided_by=by, updated_at=now)
            .returning(StepRun.id)
        ).all()
        if not claimed:
            raise ApprovalError(_DECIDED.format(step_id))
        session.add(
            StepEvent(
                step_id=step_id, phase="approved", at=now, detail={"by": by, "action": action}
            )
        )
        return approvers, True


def refresh_run_status(sessions: sessionmaker[Session], step_id: int) -> str | None:
    """Recompute the status of the run holding ``step_id`` after a step was decided
    outside it (a Safe executed by ``safe sign``, a ticked checklist item)."""
    with sessions() as session, session.begin():
        step = session.get(StepRun, step_id)
        run = session.get(PlaybookRun, step.run_id) if step is not None else None
        if run is None or run.status not in ("waiting", "succeeded"):
            return None
        rows = session.scalars(
            select(StepRun).where(StepRun.run_id == run.id).order_by(StepRun.id)
        ).all()
        latest = {row.position: row.status for row in rows}  # the last row of each position
        statuses = set(latest.values())
        if "failed" in statuses:
            run.status = "failed"
        elif statuses & {"waiting", "todo", "awaiting-approval", "awaiting-signatures", "pending"}:
            run.status = "waiting"
        else:
            run.status = "succeeded"
            run.finished_at = run.finished_at or datetime.now(UTC)
        return run.status


def run_positions(sessions: sessionmaker[Session], run_id: int) -> dict[int, str]:
    """The latest status of each position run ``run_id`` stored: what a resumed run must
    not offer or carry out again."""
    with sessions() as session:
        rows = session.execute(
            select(StepRun.position, StepRun.status)
            .where(StepRun.run_id == run_id)
            .order_by(StepRun.id)
        ).all()
    return {position: status for position, status in rows}


def requested_action(
    loaded: LoadedPlan,
    step: Step,
    playbook: str,
    request: ApprovalRequest | None,
    *,
    run_chain: str | None,
) -> Action:
    """The action an approval step asks for, rebuilt as it was when it started waiting:
    with the alert's fields it stored and on the chain it was built for (else the run's),
    so the preview, the approval and what runs are the same action.

    Raises:
        PlanError: the plan cannot build the step now (see ``step_action``).
    """
    context = request.context if request is not None else None
    chain = (request.chain if request is not None else None) or run_chain
    return step_action(loaded.plan, step, playbook, chain=chain, context=context)


@dataclass(frozen=True)
class TickResult:
    """A ticked step and the status of its run afterwards (``succeeded`` once nothing
    else waits)."""

    step_id: int
    run_id: int
    run_status: str


def tick_step(
    loaded: LoadedPlan, sessions: sessionmaker[Session], *, step_id: int, person: str
) -> TickResult:
    """Mark a manual step (a checklist item, or any step in ``manual`` mode) done by
    ``person``, a member of its owner role; the run completes when nothing else waits.

    Raises:
        ApprovalError: no such step, not a manual step of a live run, not waiting to be
            ticked, or ``person`` is not in its owner role.
    """
    waiting = waiting_step(sessions, step_id, _TICKABLE, "ticked")
    playbook = loaded.plan.playbook(waiting.run.playbook)
    if playbook is None or waiting.step.position >= len(playbook.steps):
        raise ApprovalError(f"the plan no longer has step {step_id}'s playbook as it was")
    step = playbook.steps[waiting.step.position]
    if step.action != "manual" and step.mode is not Mode.MANUAL:
        raise ApprovalError(
            f"step {step_id} ({waiting.step.summary}) is not a manual step; "
            "only checklist items are ticked"
        )
    owner = getattr(step, "owner", None)
    if owner is None:
        try:
            action = step_action(loaded.plan, step, playbook.id, chain=waiting.run.chain)
        except BreakglassError:
            action = None
        owner = approver_role(loaded.plan, step, action)
    check_member(loaded, owner, person)
    decide(sessions, step_id, waiting.step.status, "done", person)
    status = refresh_run_status(sessions, step_id)
    return TickResult(step_id, waiting.run.id, status or waiting.run.status)
