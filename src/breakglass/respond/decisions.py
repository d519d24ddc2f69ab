"""People deciding steps that wait for them: who may, on which steps, and ticking a
checklist item.

Only steps of live runs can be decided. A dry run rehearsed the playbook on a throwaway
fork; approving or ticking one of its steps would carry the rehearsal onto the real chain
(and page real people), so it is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.response import Mode
from breakglass.respond.actions.build import build_action
from breakglass.respond.runner import approver_role
from breakglass.store.models import PlaybookRun, StepEvent, StepRun

__all__ = [
    "ApprovalError",
    "TickResult",
    "Waiting",
    "check_member",
    "decide",
    "refresh_run_status",
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
            action = build_action(loaded.plan, step, playbook.id)
        except BreakglassError:
            action = None
        owner = approver_role(loaded.plan, step, action)
    check_member(loaded, owner, person)
    decide(sessions, step_id, waiting.step.status, "done", person)
    status = refresh_run_status(sessions, step_id)
    return TickResult(step_id, waiting.run.id, status or waiting.run.status)
