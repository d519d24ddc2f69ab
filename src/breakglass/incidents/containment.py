"""Containment the incident's own playbooks proved: when every contract that the pause steps
of its linked runs target reads paused, the incident moves to ``contained`` by itself.

A contract counts as paused only on the chain's word, recorded by the step that paused it:
a ``verify`` phase whose check held, or a precheck that found the pause already in place.
A broadcast, a receipt or a step marked done without a check is not enough, and a target
whose pause failed, waits for signatures or for an approval keeps the incident where it is.
The same contract paused by another run (a fallback Safe pause after the key's pause
failed) counts: the question is whether the contract is paused, not which step did it.
Dry runs are never linked to incidents (see :func:`~.timeline.link_runs`) and are ignored
here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents.lifecycle import Status
from breakglass.incidents.service import get_incident, transition
from breakglass.incidents.timeline import EventKind, add_chains
from breakglass.plan.models import PauseMethod, PauseStep, Plan, SafeProposalStep
from breakglass.plan.models.response import Step
from breakglass.store.models import (
    Incident,
    IncidentRun,
    PlaybookRun,
    StepEvent,
    StepRun,
    TimelineEvent,
)

__all__ = ["AUTO_ACTOR", "PauseTarget", "contain_if_verified", "pause_targets"]

AUTO_ACTOR = "breakglass"
"""Who the timeline says moved an incident that breakglass contained by itself."""

_PAUSING = ("pause", "safe-proposal")
_BEFORE_CONTAINED = (str(Status.DETECTED), str(Status.TRIAGED))


@dataclass(frozen=True)
class PauseTarget:
    """A contract the incident's runs set out to pause, and when its pause was verified.

    ``contract`` is the plan's name for it; a run of a playbook the plan no longer has is
    known only by its step (``run 4 step 0: pause pool as guardian``).
    """

    contract: str
    chain: str | None
    verified_at: datetime | None


def _paused_contract(plan: Plan, step: Step) -> str | None:
    """The contract ``step`` pauses, if pausing is what it does."""
    if isinstance(step, PauseStep):
        return step.contract
    if isinstance(step, SafeProposalStep):
        contract = plan.contracts.get(step.contract)
        method = (contract.pause if contract is not None else None) or PauseMethod()
        if step.function is None or step.function == method.function:
            return step.contract
    return None


def _verified_at(events: list[StepEvent]) -> datetime | None:
    """When the chain confirmed the step's pause, or None."""
    for event in events:
        if event.phase == "verify" and event.detail.get("holds") is True:
            return event.at
        if event.phase == "precheck" and event.detail.get("status") == "skipped":
            return event.at
    return None


def pause_targets(session: Session, plan: Plan, incident_id: int) -> list[PauseTarget]:
    """The contracts the pause steps of the incident's linked live runs target, each with
    the earliest time a step verified it paused (None while no step has)."""
    runs = session.scalars(
        select(PlaybookRun)
        .join(IncidentRun, IncidentRun.run_id == PlaybookRun.id)
        .where(IncidentRun.incident_id == incident_id, PlaybookRun.dry_run.is_(False))
        .order_by(PlaybookRun.id)
    ).all()
    if not runs:
        return []
    steps = session.scalars(
        select(StepRun).where(StepRun.run_id.in_([r.id for r in runs])).order_by(StepRun.id)
    ).all()
    events: dict[int, list[StepEvent]] = {}
    for event in session.scalars(
        select(StepEvent)
        .where(StepEvent.step_id.in_([s.id for s in steps]))
        .order_by(StepEvent.at, StepEvent.id)
    ):
        events.setdefault(event.step_id, []).append(event)
    # A resumed run (after an approval) stores a position again: any of its rows may verify.
    # The action is part of the key so a plan edited since the run cannot credit a pause
    # with another step's verification.
    verified: dict[tuple[int, int, str], list[datetime]] = {}
    for step in steps:
        at = _verified_at(events.get(step.id, [])) if step.status != "failed" else None
        times = verified.setdefault((step.run_id, step.position, step.action), [])
        if at is not None:
            times.append(at)
    targets: dict[str, tuple[str | None, list[datetime]]] = {}
    for run in runs:
        playbook = plan.playbook(run.playbook)
        if playbook is not None:
            for position, spec in enumerate(playbook.steps):
                name = _paused_contract(plan, spec)
                if name is not None:
                    contract = plan.contracts.get(name)
                    chain = contract.chain if contract is not None else run.chain
                    _, times = targets.setdefault(name, (chain, []))
                    times.extend(verified.get((run.id, position, spec.action), []))
            continue
        for step in steps:
            if step.run_id == run.id and step.action in _PAUSING:
                key = f"run {run.id} step {step.position}: {step.summary}"
                _, times = targets.setdefault(key, (run.chain, []))
                times.extend(verified.get((run.id, step.position, step.action), []))
    return [
        PauseTarget(name, chain, min(times) if times else None)
        for name, (chain, times) in sorted(targets.items())
    ]


def _last_status_change(session: Session, incident_id: int) -> datetime | None:
    return session.scalars(
        select(TimelineEvent.at)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == EventKind.STATUS)
        .order_by(TimelineEvent.at.desc())
        .limit(1)
    ).first()


def contain_if_verified(
    session: Session, plan: Plan, incident_id: int
) -> tuple[Incident, list[PauseTarget]] | None:
    """Move a ``detected`` or ``triaged`` incident to ``contained`` once every contract its
    runs target is verified paused; returns the incident and those contracts if it moved.

    The milestone is the moment the last contract was verified (not when this ran), but
    never before the incident's latest status change, so the timeline keeps its order.
    Also widens the incident's chains with those of the contracts its runs paused.
    """
    incident = get_incident(session, incident_id)
    targets = pause_targets(session, plan, incident_id)
    add_chains(incident, [t.chain for t in targets if t.chain])
    if incident.status not in _BEFORE_CONTAINED or not targets:
        return None
    times = [t.verified_at for t in targets]
    if any(at is None for at in times):
        return None
    when = max(at for at in times if at is not None)
    floor = _last_status_change(session, incident_id)
    if floor is not None and floor > when:
        when = floor
    names = ", ".join(t.contract for t in targets)
    moved = transition(
        session,
        incident_id,
        str(Status.CONTAINED),
        actor=AUTO_ACTOR,
        note=f"verified paused: {names}",
        at=when,
    )
    return moved, targets
