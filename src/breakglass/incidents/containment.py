"""Containment the incident's own playbooks proved: when every contract that the pause steps
of its linked runs target reads paused, the incident moves to ``contained`` by itself.

A contract counts as paused only on the chain's word, as respond told it in an
``ActionExecuted`` event (kept as a :class:`ResponseRecord`): a ``verify`` whose check held,
or a precheck that found the pause already in place. Respond's own tables are never read.
A broadcast, a receipt or a step marked done without a check is not enough, and a target
whose pause failed, waits for signatures or for an approval keeps the incident where it is.
The same contract paused by another run (a fallback Safe pause after the key's pause
failed) counts: the question is whether the contract is paused, not which step did it.
Dry runs are never recorded by incidents (see :mod:`~.response_log`), so they never count
here either.
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
from breakglass.store.models import Incident, IncidentRun, ResponseRecord, TimelineEvent

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


@dataclass
class _Run:
    playbook: str
    chain: str | None
    steps: dict[int, tuple[int, str, str]]
    """Step id → (position, action, summary)."""


def _runs(session: Session, incident_id: int) -> dict[int, _Run]:
    """The incident's linked runs as incidents heard of them, by run id."""
    records = session.scalars(
        select(ResponseRecord)
        .join(IncidentRun, IncidentRun.run_id == ResponseRecord.run_id)
        .where(IncidentRun.incident_id == incident_id)
        .order_by(ResponseRecord.run_id, ResponseRecord.at, ResponseRecord.id)
    ).all()
    runs: dict[int, _Run] = {}
    for record in records:
        run = runs.setdefault(record.run_id, _Run(record.playbook, record.chain, {}))
        run.steps.setdefault(record.step_id, (record.position, record.action, record.summary))
    return runs


def _verified(session: Session, run_ids: list[int]) -> dict[tuple[int, int, str], list[datetime]]:
    """When the chain confirmed each step's effect, by (run, position, action); a step whose
    last status is ``failed`` does not count."""
    records = session.scalars(
        select(ResponseRecord)
        .where(ResponseRecord.run_id.in_(run_ids))
        .order_by(ResponseRecord.at, ResponseRecord.id)
    ).all()
    status: dict[int, str] = {}
    for record in records:
        if record.kind == "phase" and "status" in record.detail:
            status[record.step_id] = str(record.detail["status"])
    verified: dict[tuple[int, int, str], list[datetime]] = {}
    for record in records:
        if record.kind != "action" or record.verified is not True:
            continue
        if status.get(record.step_id) == "failed":
            continue
        key = (record.run_id, record.position, record.action)
        times = verified.setdefault(key, [])
        if not times:  # the first confirmation of a step is the one that counts
            times.append(record.at)
    return verified


def pause_targets(session: Session, plan: Plan, incident_id: int) -> list[PauseTarget]:
    """The contracts the pause steps of the incident's linked live runs target, each with
    the earliest time a step verified it paused (None while no step has)."""
    runs = _runs(session, incident_id)
    if not runs:
        return []
    # A resumed run (after an approval) stores a position again: any of its rows may verify.
    # The action is part of the key so a plan edited since the run cannot credit a pause
    # with another step's verification.
    verified = _verified(session, list(runs))
    targets: dict[str, tuple[str | None, list[datetime]]] = {}
    for run_id, run in sorted(runs.items()):
        playbook = plan.playbook(run.playbook)
        if playbook is not None:
            for position, spec in enumerate(playbook.steps):
                name = _paused_contract(plan, spec)
                if name is not None:
                    contract = plan.contracts.get(name)
                    chain = contract.chain if contract is not None else run.chain
                    _, times = targets.setdefault(name, (chain, []))
                    times.extend(verified.get((run_id, position, spec.action), []))
            continue
        for position, action, summary in sorted(set(run.steps.values())):
            if action in _PAUSING:
                key = f"run {run_id} step {position}: {summary}"
                _, times = targets.setdefault(key, (run.chain, []))
                times.extend(verified.get((run_id, position, action), []))
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
        detail={"contracts_paused": [t.contract for t in targets]},
    )
    return moved, targets
