"""What the response commands do, one function each; the CLI and the API call these."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError, DevchainError, PlanError
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.chain import EnvSigner, ExternalSigner, KeystoreSigner, SafeSigner
from breakglass.plan.models.response import Mode, PauseStep, Playbook, Step
from breakglass.respond.actions.base import StepFailed
from breakglass.respond.actions.safe import execute_proposal
from breakglass.respond.announce import announcement
from breakglass.respond.binding import action_hash
from breakglass.respond.calls import parse_check
from breakglass.respond.decisions import (
    ApprovalError,
    TickResult,
    approval_request,
    check_binding,
    record_approval,
    refresh_run_status,
    run_positions,
    tick_step,
)
from breakglass.respond.decisions import check_member as _check_member
from breakglass.respond.decisions import waiting_step as _waiting_step
from breakglass.respond.env import DryRunEnv, LiveEnv, chain_urls
from breakglass.respond.journal import Journal, OnStepEvent, RunHandle, StepHandle
from breakglass.respond.runner import PlaybookRunner, RunResult, StepResult, approver_role
from breakglass.respond.safes import ProposalView, add_signature, check_operation, load_proposal
from breakglass.respond.templates import step_action, step_chains
from breakglass.store.models import PlaybookRun, StepRun

__all__ = [
    "ApprovalError",
    "TickResult",
    "approve_step",
    "dry_run_playbook",
    "list_runs",
    "pause_contract",
    "refresh_run_status",
    "run_playbook",
    "sign_proposal",
    "tick_step",
]

_log = structlog.get_logger("breakglass.respond")


async def _with_env(
    loaded: LoadedPlan,
    env: LiveEnv,
    sessions: sessionmaker[Session],
    playbook: str | Playbook,
    on_event: OnStepEvent | None,
    **kwargs: Any,
) -> RunResult:
    journal = Journal(sessions, on_event=on_event)
    try:
        return await PlaybookRunner(loaded.plan, env, journal).run(playbook, **kwargs)
    finally:
        await journal.close()
        await env.aclose()


def run_playbook(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    playbook: str | Playbook,
    *,
    trigger: str = "manual",
    env: LiveEnv | None = None,
    on_event: OnStepEvent | None = None,
) -> RunResult:
    """Run a playbook of the plan (or an ad-hoc one) now, for real."""
    live = env or LiveEnv(loaded, sessions)
    return asyncio.run(_with_env(loaded, live, sessions, playbook, on_event, trigger=trigger))


def _pause_signer(loaded: LoadedPlan, contract: str, signer: str | None) -> str:
    if signer is not None:
        return signer
    for playbook in loaded.plan.playbooks:
        for step in playbook.steps:
            if isinstance(step, PauseStep) and step.contract == contract:
                return step.signer
    keys = [
        n
        for n, s in loaded.plan.signers.items()
        if isinstance(s, KeystoreSigner | EnvSigner | ExternalSigner)
    ]
    if len(keys) == 1:
        return keys[0]
    raise PlanError(
        f"no playbook pauses {contract!r} and the plan has {len(keys)} key signers; "
        "pick one with --signer"
    )


def pause_contract(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    contract: str,
    *,
    signer: str | None = None,
    env: LiveEnv | None = None,
    on_event: OnStepEvent | None = None,
) -> RunResult:
    """Break glass: pause ``contract`` now with ``signer`` (default: the one the playbooks
    use for it). Prechecked, simulated and verified like any playbook step."""
    if contract not in loaded.plan.contracts:
        known = ", ".join(sorted(loaded.plan.contracts)) or "none"
        raise PlanError(f"the plan has no contract {contract!r} (contracts: {known})")
    step = PauseStep(
        action="pause", contract=contract, signer=_pause_signer(loaded, contract, signer)
    )
    playbook = Playbook(id="break-glass", steps=[step])
    return run_playbook(
        loaded, sessions, playbook, trigger="breakglass pause", env=env, on_event=on_event
    )


@asynccontextmanager
async def _fork(loaded: LoadedPlan, chains: set[str]) -> AsyncIterator[dict[str, str]]:
    from breakglass.devchain import Anvil  # noqa: PLC0415 - only dry runs start a chain

    forks: dict[str, Anvil] = {}
    try:
        for name in sorted(chains):
            config = loaded.plan.chains[name]
            url = chain_urls(config)[0]
            try:
                forks[name] = await asyncio.to_thread(
                    Anvil.start, chain_id=config.chain_id, fork_url=url
                )
            except DevchainError as exc:
                raise _fork_failed(name, url, exc) from None
        yield {name: anvil.http_url for name, anvil in forks.items()}
    finally:
        for anvil in forks.values():
            anvil.stop()


def _fork_failed(chain: str, url: str, exc: DevchainError) -> DevchainError:
    """What a person can act on when the fork does not start: the chain and its endpoint
    (no path or key), not anvil's raw HTTP diagnostics (kept in the debug log)."""
    from breakglass.chain.rpc import redact_url  # noqa: PLC0415

    _log.debug("respond.fork_failed", chain=chain, error=str(exc)[:2000])
    return DevchainError(
        f"cannot fork chain {chain} from {redact_url(url)} for the dry run: the endpoint did "
        "not answer. Check that it is up (breakglass doctor), or put an endpoint that "
        f"answers first in the plan's chains.{chain}.rpc"
    )


def dry_run_playbook(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    playbook: str,
    *,
    on_event: OnStepEvent | None = None,
    fork_urls: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``playbook`` on a throwaway anvil fork of each chain: every step really executes
    there, as the plan's signers (impersonated, no keys needed), and nothing touches the
    real chains."""

    async def go() -> RunResult:
        if fork_urls is not None:
            env = DryRunEnv(loaded, sessions, rpc_urls=fork_urls, receipt_timeout=30)
            return await _with_env(loaded, env, sessions, playbook, on_event, trigger="dry run")
        async with _fork(loaded, _chains_of(loaded, playbook)) as urls:
            env = DryRunEnv(loaded, sessions, rpc_urls=urls, receipt_timeout=30)
            return await _with_env(loaded, env, sessions, playbook, on_event, trigger="dry run")

    if loaded.plan.playbook(playbook) is None:
        raise PlanError(f"the plan has no playbook {playbook!r}")
    return asyncio.run(go())


def _chains_of(loaded: LoadedPlan, playbook_id: str, seen: set[str] | None = None) -> set[str]:
    """The chains a playbook and its fallbacks may act on: every chain each step's contract
    is deployed on (the alert picks one), a step's own chain, a Safe's chain."""
    seen = seen if seen is not None else set()
    playbook = loaded.plan.playbook(playbook_id)
    if playbook is None or playbook_id in seen:
        return set()
    seen.add(playbook_id)
    chains: set[str] = set()
    for step in playbook.steps:
        chains |= {c for c in step_chains(loaded.plan, step) if c is not None}
        if step.on_failure:
            chains |= _chains_of(loaded, step.on_failure, seen)
    return chains


def approve_step(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    step_id: int,
    person: str,
    *,
    action: str | None = None,
    env: LiveEnv | None = None,
    on_event: OnStepEvent | None = None,
) -> RunResult:
    """Approve a waiting ``approval`` step as ``person`` and resume its run from there.

    The approval covers the exact action the step asked approval for (its hash, shown by
    ``playbook runs``): when the plan would now build another, it is refused. A step whose
    plan asks ``approvals: N`` resumes at the N-th different approver; before that this
    returns the run still waiting.

    Args:
        action: the action hash the approver was shown; refused when it is not the step's.

    Raises:
        ApprovalError: no such waiting step, a step of a dry run, ``person`` is not in its
            approver role or approved already, the request expired, or the action differs.
    """
    waiting = _waiting_step(sessions, step_id, ("awaiting-approval",), "approved")
    playbook = loaded.plan.playbook(waiting.run.playbook)
    if playbook is None or waiting.step.position >= len(playbook.steps):
        raise ApprovalError(f"the plan no longer has step {step_id}'s playbook as it was")
    step = playbook.steps[waiting.step.position]
    if step.mode is not Mode.APPROVAL:
        raise ApprovalError(f"step {step_id} is no longer an approval step in the plan")
    request = approval_request(sessions, step_id)
    context = request.context if request is not None else None
    chain = (request.chain if request is not None else None) or waiting.run.chain
    try:
        built = step_action(loaded.plan, step, playbook.id, chain=chain, context=context)
    except BreakglassError as exc:
        raise ApprovalError(f"step {step_id} cannot be built from the plan now: {exc}") from None
    current = action_hash(built)
    check_binding(request, current=current, summary=built.summary, shown=action)
    assert request is not None
    _check_member(loaded, approver_role(loaded.plan, step, built), person)
    runner_env = env or LiveEnv(loaded, sessions)
    needed = max(step.approvals, request.needed)
    approvers, complete = record_approval(
        sessions, step_id=step_id, person=person, action=current, needed=needed
    )
    if not complete:
        note = (
            f"approved by {', '.join(approvers)}: {len(approvers)} of {needed} approvals "
            f"for action {current}"
        )
        waiting_result = StepResult(
            waiting.step.position, built.summary, "awaiting-approval", note, step_id=step_id
        )
        return RunResult(waiting.run.playbook, waiting.run.id, "waiting", [waiting_result])
    handle = RunHandle(
        waiting.run.playbook, waiting.run.chain, waiting.run.trigger, waiting.run.dry_run
    )
    handle.id = waiting.run.id
    handle.ready.set()
    return asyncio.run(
        _with_env(
            loaded,
            runner_env,
            sessions,
            waiting.run.playbook,
            on_event,
            trigger=waiting.run.trigger,
            resume=handle,
            start_at=waiting.step.position,
            approved={waiting.step.position: ", ".join(approvers)},
            chain=chain,
            context=context,
            handled=run_positions(sessions, waiting.run.id),
        )
    )


def sign_proposal(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    proposal_id: int,
    signer: str,
    *,
    env: LiveEnv | None = None,
) -> tuple[ProposalView, str | None]:
    """Add ``signer``'s signature to a Safe proposal; execute it when the threshold is met.

    Returns the proposal and, when it executed, the transaction hash.
    """
    live = env or LiveEnv(loaded, sessions)
    view = load_proposal(sessions, proposal_id)
    safe = _safe_config(loaded, view.tx.safe)
    # Checked at signing too: the proposal may predate the plan (or come from another store).
    check_operation(
        view.tx,
        delegatecall_allowed=safe.delegatecall_allowed,
        safe_name=next(n for n, s in loaded.plan.signers.items() if s is safe),
    )
    account = live.safe_account(safe.chain, view.tx.safe)
    local = live.local_signer(signer)
    view = add_signature(sessions, proposal_id, local, account.owners())
    if not view.ready:
        return view, None

    async def execute() -> str | None:
        journal = Journal(sessions)
        record = _ExistingStep(journal, view.step_id)
        verify_text = view.meta.get("verify")
        verify = parse_check(str(verify_text)) if verify_text else None
        announce = _Announcer(loaded, sessions, journal, record.handle, view, live)
        try:
            outcome = await execute_proposal(live, record, view, account, signer, verify)
        except StepFailed as exc:
            record("failed", status="failed", error=str(exc))
            announce("failed", str(exc), None)
            raise
        else:
            record("done", status="done", note=outcome.note)
            announce(outcome.status, outcome.note, outcome.tx_hash)
            return outcome.tx_hash
        finally:
            await journal.close()
            await live.aclose()

    tx_hash = asyncio.run(execute())
    if view.step_id is not None:
        refresh_run_status(sessions, view.step_id)
    return load_proposal(sessions, proposal_id), tx_hash


class _ExistingStep:
    """Records phases onto an already stored step (or nowhere, for an imported proposal)."""

    def __init__(self, journal: Journal, step_id: int | None) -> None:
        self._journal = journal
        run = RunHandle("", None, "", False, id=None)
        self.handle = StepHandle(run, 0, "safe-proposal", "auto", "", id=step_id)
        self.handle.ready.set()
        self._step = self.handle if step_id is not None else None

    def __call__(self, phase: str, **detail: Any) -> object:
        if self._step is None:
            return None
        return self._journal.phase(self._step, phase, **detail)

    async def step_id(self) -> int | None:
        return self._step.id if self._step else None


class _Announcer:
    """Announces how a Safe proposal executed by ``safe sign`` ended, as the runner does for
    its steps (a person must act on a failure: no fallback runs from here)."""

    def __init__(
        self,
        loaded: LoadedPlan,
        sessions: sessionmaker[Session],
        journal: Journal,
        handle: StepHandle,
        view: ProposalView,
        env: LiveEnv,
    ) -> None:
        self._journal, self._handle, self._view, self._env = journal, handle, view, env
        self._playbook, self._position, self._trigger = "safe sign", 0, "safe sign"
        self._step: Step | None = None
        with sessions() as session:
            row = session.get(StepRun, view.step_id) if view.step_id is not None else None
            run = session.get(PlaybookRun, row.run_id) if row is not None else None
        if row is not None and run is not None:
            self._playbook, self._position, self._trigger = run.playbook, row.position, run.trigger
            playbook = loaded.plan.playbook(run.playbook)
            if playbook is not None and row.position < len(playbook.steps):
                self._step = playbook.steps[row.position]

    def __call__(self, status: str, note: str, tx_hash: str | None) -> None:
        message = announcement(
            playbook=self._playbook,
            position=self._position,
            step=self._step,
            summary=f"Safe proposal {self._view.id}",
            chain=self._view.chain,
            status=status,
            note=note,
            tx_hash=tx_hash,
            fallback=None,
            trigger=self._trigger,
        )
        if message is not None:
            self._journal.announce(self._handle, *message, notifier=self._env.notifier)


def _safe_config(loaded: LoadedPlan, address: str) -> SafeSigner:
    for config in loaded.plan.signers.values():
        if isinstance(config, SafeSigner) and config.address.lower() == address.lower():
            return config
    raise PlanError(f"the plan has no Safe signer with address {address}")


def list_runs(
    sessions: sessionmaker[Session], limit: int = 20
) -> list[tuple[PlaybookRun, list[StepRun]]]:
    """The latest playbook runs with their steps, newest first."""
    with sessions() as session:
        runs = session.scalars(
            select(PlaybookRun).order_by(PlaybookRun.id.desc()).limit(limit)
        ).all()
        out = []
        for run in runs:
            steps = session.scalars(
                select(StepRun)
                .where(StepRun.run_id == run.id)
                .order_by(StepRun.position, StepRun.id)
            ).all()
            out.append((run, list(steps)))
        return out
