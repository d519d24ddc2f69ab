"""Running a playbook: steps in order (or in parallel groups), each in its mode, with
fallbacks on failure and every phase in the journal.

- ``auto`` steps run at once;
- an ``approval`` step stops the run until a member of its approver role approves it
  (``breakglass approve``); the run then resumes from that step. Every later approval step
  of the playbook is offered at the same moment, not one after another: two pauses that
  each need a person wait for two people at once. Other steps still wait for the approval
  steps before them, and a resumed run skips the steps it already offered or carried out;
- ``manual`` steps, and actions that wait for people (Safe signatures), become open items
  and the run goes on without them; a checklist item stays ``todo`` until a member of its
  owner role ticks it (``breakglass tick``).

A dry run rehearses on a fork and never waits for people: an approval step records whom it
would wait for and the run goes on as if approved (the rehearsal shows what the approved
step would do). Nothing of a dry run can be approved or ticked later.

Each settled step is announced to the plan's channels through the journal's writer (see
:mod:`breakglass.respond.announce`), never on the way to a broadcast; dry runs announce
nothing.

A failed step records why, runs its ``on_failure`` playbook (a Safe pause, a page) as a child
run, and the playbook continues with its next step: paging and telling people still matter
when the pause did not land.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import structlog

from breakglass.errors import BreakglassError, PlanError
from breakglass.plan.models.detection import Severity
from breakglass.plan.models.plan import Plan
from breakglass.plan.models.response import Mode, Playbook, Step
from breakglass.respond.actions.base import Action, ActionEnv, Outcome, StepFailed
from breakglass.respond.announce import announcement
from breakglass.respond.binding import action_hash
from breakglass.respond.journal import Journal, RunHandle, StepHandle
from breakglass.respond.ordering import (
    RunCall,
    RunResult,
    StepResult,
    offered_early,
    run_status,
    step_groups,
    still_waiting,
    used_fields,
)
from breakglass.respond.templates import finding_samples, step_action

__all__ = [
    "PlaybookRunner",
    "RunResult",
    "StepResult",
    "approver_role",
    "playbooks_for",
    "step_groups",
]

_log = structlog.get_logger("breakglass.respond")


def playbooks_for(plan: Plan, rule_id: str, severity: Severity | str) -> list[Playbook]:
    """The playbooks bound to ``rule_id`` or to ``severity``, in plan order."""
    level = Severity(severity)
    return [p for p in plan.playbooks if rule_id in p.on or level in p.severities]


def _approvers(count: int) -> str:
    return "a member" if count == 1 else f"{count} different members"


def approver_role(plan: Plan, step: Step, action: Action | None) -> str | None:
    """Who approves ``step``: its ``approver``, else the first role that handles its action,
    else the incident lead."""
    if step.approver is not None:
        return step.approver
    if action is not None and action.mitigation is not None:
        for name, role in plan.roles.items():
            if any(m.value == action.mitigation for m in role.handles):
                return name
    return "incident_lead" if "incident_lead" in plan.roles else None


# Phases after which a step's urgent part is over: its transaction is out, or it will not be.
SETTLED_PHASES = frozenset({"broadcast", "skipped", "failed", "waiting", "done"})


class _Countdown:
    """Sets ``event`` once ``count`` steps have settled."""

    def __init__(self, count: int, event: asyncio.Event | None) -> None:
        self.count = count
        self.event = event

    def tick(self) -> None:
        self.count -= 1
        if self.count <= 0 and self.event is not None:
            self.event.set()


class _StepRecord:
    """The ``record`` an action gets: phases of one step, to the journal."""

    def __init__(
        self, journal: Journal, step: StepHandle, countdown: _Countdown | None = None
    ) -> None:
        self._journal = journal
        self._step = step
        self._countdown = countdown
        self.status: str | None = None

    def __call__(self, phase: str, **detail: Any) -> object:
        if "status" in detail:
            self.status = str(detail["status"])
        event = self._journal.phase(self._step, phase, **detail)
        if self._countdown is not None and phase in SETTLED_PHASES:
            self._countdown.tick()
            self._countdown = None
        return event

    async def step_id(self) -> int | None:
        await self._step.ready.wait()
        return self._step.id


class PlaybookRunner:
    """Runs the plan's playbooks against ``env``, recording into ``journal``.

    ``chain`` is where its runs act by default (a monitor's chain): a contract deployed on
    several chains is acted on there.
    """

    def __init__(
        self, plan: Plan, env: ActionEnv, journal: Journal, *, chain: str | None = None
    ) -> None:
        self.plan = plan
        self.env = env
        self.journal = journal
        self.chain = chain

    def actions(
        self,
        playbook: Playbook,
        *,
        chain: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[Action | PlanError]:
        """Each step's action on ``chain`` with the alert's fields ``context``, or the
        plan error that stops it from being built."""
        built: list[Action | PlanError] = []
        for step in playbook.steps:
            try:
                built.append(
                    step_action(
                        self.plan, step, playbook.id, chain=chain or self.chain, context=context
                    )
                )
            except BreakglassError as exc:
                built.append(PlanError(str(exc)))
        return built

    def armable(self, playbook: Playbook) -> list[Action | PlanError]:
        """Each step's action before any alert, as the responder arms it at start-up: a
        step using ``${finding.*}`` is built with sample values of the declared types, so
        its signer is loaded and checked like any other (the alert brings the real
        calldata when it runs)."""
        return self.actions(playbook, context=finding_samples(self.plan))

    async def run(
        self,
        playbook_ref: str | Playbook,
        *,
        trigger: str,
        chain: str | None = None,
        parent_step_id: int | None = None,
        resume: RunHandle | None = None,
        start_at: int = 0,
        approved: dict[int, str] | None = None,
        depth: int = 0,
        settled: asyncio.Event | None = None,
        context: Mapping[str, Any] | None = None,
        handled: Mapping[int, str] | None = None,
    ) -> RunResult:
        """Run a playbook of the plan by id, or an ad-hoc one (``breakglass pause``); or
        resume ``resume`` at ``start_at``.

        Args:
            approved: positions already approved, with the person who approved each.
            context: the fields of the finding that started the run, for ``${finding.*}``.
            handled: on resume, the latest status of each position the run already stored
                (offered for approval, done, failed …); those are not run again.
            depth: fallback nesting; fallbacks of fallbacks stop at three levels.
            settled: set once the first steps have their transactions out (or will not):
                the monitor waits for it before it stores the block.

        Raises:
            PlanError: no playbook of that id.
        """
        if isinstance(playbook_ref, Playbook):
            playbook: Playbook | None = playbook_ref
        else:
            playbook = self.plan.playbook(playbook_ref)
        if playbook is None:
            raise PlanError(f"the plan has no playbook {playbook_ref!r}")
        playbook_id = playbook.id
        run = resume or self.journal.open_run(
            playbook_id,
            chain=chain,
            trigger=trigger,
            dry_run=self.env.dry_run,
            parent_step_id=parent_step_id,
        )
        result = RunResult(playbook_id, run.id, "running")
        where = chain or run.chain or self.chain
        actions = self.actions(playbook, chain=where, context=context)
        call = RunCall(where, used_fields(playbook, context), approved or {}, depth)
        earlier = {p: s for p, s in (handled or {}).items() if p != start_at}
        # An approval step before start_at still waiting holds back what follows it.
        before = [p for p, s in earlier.items() if s == "awaiting-approval" and p < start_at]
        result.steps.extend(still_waiting(p, actions[p], playbook) for p in sorted(before))
        blocked = bool(before)
        groups = [[p for p in g if p >= start_at] for g in step_groups(playbook.steps)]
        groups = [g for g in groups if g]
        try:
            for index, group in enumerate(groups):
                pending = [p for p in group if earlier.get(p) == "awaiting-approval"]
                result.steps.extend(still_waiting(p, actions[p], playbook) for p in pending)
                positions = [
                    p
                    for p in group
                    if p == start_at
                    or (p not in earlier and (not blocked or offered_early(playbook, p, call)))
                ]
                countdown = _Countdown(len(positions), settled) if index == 0 else None
                outcomes = await asyncio.gather(
                    *(self._step(run, playbook, p, actions[p], call, countdown) for p in positions)
                )
                result.steps.extend(outcomes)
                if pending or any(o.status == "awaiting-approval" for o in outcomes):
                    blocked = True
        finally:
            if settled is not None:
                settled.set()
        await run.ready.wait()
        result.run_id = run.id
        result.status = run_status(result.steps)
        self.journal.finish_run(run, result.status)
        return result

    async def _step(
        self,
        run: RunHandle,
        playbook: Playbook,
        position: int,
        action: Action | PlanError,
        call: RunCall,
        countdown: _Countdown | None = None,
    ) -> StepResult:
        step = playbook.steps[position]
        summary = action.summary if isinstance(action, Action) else step.action
        handle = self.journal.open_step(run, position, step.action, step.mode.value, summary)
        record = _StepRecord(self.journal, handle, countdown)
        result = StepResult(position, summary, "failed")
        try:
            status, outcome = await self._carry_out(step, action, position, call, record)
        except StepFailed as exc:
            record("failed", status="failed", error=str(exc), phase_failed=exc.phase)
            result.note = str(exc)
            _log.error("respond.step_failed", playbook=playbook.id, step=position, error=str(exc))
        except Exception as exc:  # a bug must not stop the fallback from running
            record("failed", status="failed", error=repr(exc)[:500], phase_failed="internal")
            result.note = f"internal error: {exc!r}"
            _log.exception("respond.step_crashed", playbook=playbook.id, step=position)
        else:
            result.status, result.note, result.tx_hash = status, outcome.note, outcome.tx_hash
        depth = call.depth
        fallback = step.on_failure if result.status == "failed" and depth < 3 else None
        self._announce(run, handle, playbook.id, step, action, result, fallback)
        result.step_id = await record.step_id()
        if result.status == "failed" and step.on_failure is not None:
            result.fallback = await self._fallback(step.on_failure, record, result, call)
        return result

    def _announce(
        self,
        run: RunHandle,
        handle: StepHandle,
        playbook: str,
        step: Step,
        action: Action | PlanError,
        result: StepResult,
        fallback: str | None,
    ) -> None:
        if self.env.dry_run:
            return
        message = announcement(
            playbook=playbook,
            position=result.position,
            step=step,
            summary=result.summary,
            chain=action.chain if isinstance(action, Action) else run.chain,
            status=result.status,
            note=result.note,
            tx_hash=result.tx_hash,
            fallback=fallback,
            trigger=run.trigger,
        )
        if message is not None:
            self.journal.announce(handle, *message, notifier=self.env.notifier)

    async def _carry_out(
        self,
        step: Step,
        action: Action | PlanError,
        position: int,
        call: RunCall,
        record: _StepRecord,
    ) -> tuple[str, Outcome]:
        """The step's status and outcome; raises :class:`StepFailed` when it fails."""
        if isinstance(action, PlanError):
            raise StepFailed("plan", str(action))
        rehearsal = ""
        approved = call.approved
        if step.mode is Mode.APPROVAL and position not in approved:
            role = approver_role(self.plan, step, action)
            if self.env.dry_run:
                rehearsal = f"dry run: would wait for approval by {role or 'any role'}"
                record("rehearsed", approver=role, note=f"{rehearsal}; goes on as if approved")
            else:
                bound = action_hash(action)
                note = (
                    f"awaiting approval by {_approvers(step.approvals)} of {role or 'any role'} "
                    f"for action {bound}: {action.summary}"
                )
                record(
                    "waiting",
                    status="awaiting-approval",
                    approver=role,
                    action=bound,
                    approvals=step.approvals,
                    expires_after_s=step.approval_expires.total_seconds(),
                    note=note,
                    # what the approval rebuilds the action from: the alert's fields it uses
                    context=call.context,
                    chain=call.chain,
                )
                return "awaiting-approval", Outcome("waiting", note)
        if position in approved:
            record("approved", by=approved[position])
        if step.mode is Mode.MANUAL and step.action != "manual":
            record("waiting", status="todo", instructions=action.summary)
            return "waiting", Outcome("waiting", f"to do by hand: {action.summary}")
        record("start", status="running")
        outcome = await action.run(self.env, record)
        if outcome.status == "waiting":
            # a checklist item stays "todo", the status `tick` looks for
            kept = record.status if record.status == "todo" else "waiting"
            record("waiting", status=kept, note=outcome.note)
        else:
            record(outcome.status, status=outcome.status, note=outcome.note)
        if rehearsal:
            outcome = replace(outcome, note="; ".join(filter(None, (rehearsal, outcome.note))))
        return outcome.status, outcome

    async def _fallback(
        self, playbook_id: str, record: _StepRecord, failed: StepResult, call: RunCall
    ) -> RunResult | None:
        if call.depth >= 3:
            record("fallback", skipped="fallback nesting deeper than three playbooks")
            return None
        record("fallback", playbook=playbook_id)
        try:
            return await self.run(
                playbook_id,
                trigger=f"fallback of step {failed.step_id}",
                parent_step_id=failed.step_id,
                depth=call.depth + 1,
                chain=call.chain,
                context=call.context,
            )
        except BreakglassError as exc:
            record("fallback", error=str(exc))
            return None
