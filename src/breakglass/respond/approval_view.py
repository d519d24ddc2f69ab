"""What an approver is shown before approving a waiting step: the action in the plan's words
(target by name, decoded call, signer, chain), its hash, the approvals so far and the expiry.

The API and the dashboard show this, and the approval they send carries the hash shown,
so what a person saw is what runs (see :mod:`breakglass.respond.binding`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.actions.base import Action
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.actions.safe import SafeAction
from breakglass.respond.binding import action_hash
from breakglass.respond.decisions import (
    ApprovalError,
    approval_request,
    check_binding,
    requested_action,
)
from breakglass.respond.runner import approver_role
from breakglass.store.models import PlaybookRun, StepRun

__all__ = ["ActionView", "ApprovalView", "approval_view", "describe_action"]

# Chains where an approval sends nothing of value; any other chain id is treated as a
# production network and the dashboard asks for a second confirmation.
_REHEARSAL_CHAINS = frozenset({1337, 31337, 5, 17000, 560048, 11155111, 84532, 421614, 11155420})


@dataclass(frozen=True)
class ActionView:
    """One action as a person checks it; ``target``, ``call``, ``signer`` and ``chain`` are
    None for actions that send no transaction (a page, a message)."""

    hash: str
    kind: str
    summary: str
    chain: str | None
    chain_id: int | None
    target: str | None
    target_name: str | None
    call: str | None
    signer: str | None
    signer_address: str | None

    @property
    def production(self) -> bool:
        """Whether it sends a transaction on a chain that is not a local or test network."""
        return self.chain_id is not None and self.chain_id not in _REHEARSAL_CHAINS

    def text(self) -> str:
        """One line: ``pause() on token (0x…) as guardian (0x…) on mainnet (chain 1)``."""
        if self.call is None:
            return self.summary
        where = f"{self.target_name} ({self.target})" if self.target_name else str(self.target)
        who = f"{self.signer} ({self.signer_address})" if self.signer_address else self.signer
        return f"{self.call} on {where} as {who} on {self.chain} (chain {self.chain_id})"


@dataclass(frozen=True)
class ApprovalView:
    """A waiting approval: what it asks for and whether approving it can go ahead.

    ``requested`` is the hash stored when the step started waiting; ``action`` is what the
    plan builds for the step now (None when it cannot); ``problem`` says why an approval
    would be refused (expired, the plan changed), else None.
    """

    step_id: int
    requested: str | None
    action: ActionView | None
    approver: str | None
    approved_by: tuple[str, ...]
    needed: int
    expires_at: datetime | None
    problem: str | None
    built: Action | None = field(default=None, repr=False, compare=False)
    """The action itself, for a simulation of it (:mod:`breakglass.respond.preview`)."""

    @property
    def approvals(self) -> int:
        """How many different people approved so far."""
        return len(self.approved_by)


def _signer(loaded: LoadedPlan, name: str) -> tuple[str, str | None]:
    config = loaded.plan.signers.get(name)
    if config is None:
        return name, None
    address = getattr(config, "address", None)
    return f"{name} ({config.type})", str(address) if address else None


def describe_action(loaded: LoadedPlan, action: Action) -> ActionView:
    """``action`` as :class:`ActionView`: the target named as in the plan and the calldata
    decoded with the plan's ABIs."""
    from breakglass.respond.safe_review import decode_call  # noqa: PLC0415

    chain = action.chain
    chain_id = loaded.plan.chains[chain].chain_id if chain in loaded.plan.chains else None
    target = call = signer = signer_address = target_name = None
    if isinstance(action, ContractAction | SafeAction):
        target = action.to
        call = decode_call(loaded, to=action.to, data=action.data)
        target_name = next(
            (n for n, c in loaded.plan.contracts.items() if c.address.lower() == target.lower()),
            None,
        )
    if isinstance(action, ContractAction):
        signer, signer_address = _signer(loaded, action.signer)
    elif isinstance(action, SafeAction):
        signer, signer_address = "Safe", action.safe
    return ActionView(
        hash=action_hash(action),
        kind=action.kind,
        summary=action.summary,
        chain=chain,
        chain_id=chain_id,
        target=target,
        target_name=target_name,
        call=call,
        signer=signer,
        signer_address=signer_address,
    )


def approval_view(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    *,
    step_id: int,
    now: datetime | None = None,
) -> ApprovalView | None:
    """What step ``step_id`` asks approval for, built from ``loaded`` as it is now; None
    when the step is not waiting for approval."""
    with sessions() as session:
        step = session.get(StepRun, step_id)
        run = session.get(PlaybookRun, step.run_id) if step is not None else None
        if step is None or run is None or step.status != "awaiting-approval":
            return None
        position, playbook_id, run_chain = step.position, run.playbook, run.chain
    request = approval_request(sessions, step_id)
    playbook = loaded.plan.playbook(playbook_id)
    action: Action | None = None
    problem: str | None = None
    role: str | None = None
    needed = request.needed if request is not None else 1
    if playbook is None or position >= len(playbook.steps):
        problem = f"the plan no longer has step {step_id}'s playbook as it was"
    else:
        planned = playbook.steps[position]
        try:
            action = requested_action(loaded, planned, playbook.id, request, run_chain=run_chain)
        except BreakglassError as exc:
            problem = f"step {step_id} cannot be built from the plan now: {exc}"
        role = approver_role(loaded.plan, planned, action)
        needed = max(needed, planned.approvals)
    shown = describe_action(loaded, action) if action is not None else None
    if shown is not None:
        try:
            check_binding(request, current=shown.hash, summary=shown.summary, now=now)
        except ApprovalError as exc:
            problem = str(exc)
    return ApprovalView(
        step_id=step_id,
        requested=request.action if request is not None else None,
        action=shown,
        approver=role,
        approved_by=request.approved_by if request is not None else (),
        needed=needed,
        expires_at=request.expires_at if request is not None else None,
        problem=problem,
        built=action,
    )
