"""Plan steps made concrete: each step of a playbook becomes one :class:`Action`."""

from __future__ import annotations

from breakglass.errors import PlanError
from breakglass.plan.models.chain import Contract, PauseMethod, SafeSigner
from breakglass.plan.models.plan import Plan
from breakglass.plan.models.response import (
    CallStep,
    ManualStep,
    NotifyStep,
    PageStep,
    PauseStep,
    RevokeRoleStep,
    SafeProposalStep,
    Step,
    UnpauseStep,
)
from breakglass.respond.actions.base import Action
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.actions.messages import ChecklistAction, NotifyAction, PageAction
from breakglass.respond.actions.safe import SafeAction
from breakglass.respond.calls import Check, encode_call, parse_check

__all__ = ["build_action"]


def _contract(plan: Plan, name: str) -> Contract:
    contract = plan.contracts.get(name)
    if contract is None:
        raise PlanError(f"the plan has no contract {name!r}")
    return contract


def _pause(contract: Contract) -> PauseMethod:
    return contract.pause or PauseMethod()


def _check(text: str | None) -> Check | None:
    return parse_check(text) if text else None


def _negated(check: Check | None) -> Check | None:
    if check is None:
        return None
    text = check.text[1:] if check.negate else "!" + check.text
    return Check(text=text, data=check.data, negate=not check.negate)


def build_action(plan: Plan, step: Step, playbook: str = "") -> Action:
    """The action carrying out ``step``.

    Raises:
        PlanError: a name the step uses is missing, or a function or check cannot be encoded.
    """
    if isinstance(step, PauseStep | UnpauseStep | CallStep | RevokeRoleStep):
        return _contract_action(plan, step)
    if isinstance(step, SafeProposalStep):
        return _safe_action(plan, step)
    if isinstance(step, NotifyStep):
        message = step.message or f"Playbook {playbook} is running for {plan.protocol}."
        return NotifyAction(
            "notify", f"notify {step.channel}", None, "comms", step.channel, message
        )
    if isinstance(step, PageStep):
        role = plan.roles.get(step.role)
        people = list(role.members) if role is not None else []
        message = step.message or f"Playbook {playbook} needs {step.role} now."
        return PageAction(
            "page", f"page {step.role}", None, "coordinate", step.role, people, message
        )
    assert isinstance(step, ManualStep)
    return ChecklistAction("manual", step.instructions, None, None, step.owner, step.instructions)


def _contract_action(
    plan: Plan, step: PauseStep | UnpauseStep | CallStep | RevokeRoleStep
) -> ContractAction:
    contract = _contract(plan, step.contract)
    method = _pause(contract)
    if isinstance(step, PauseStep):
        data = encode_call(step.function or method.function)
        done = _check(method.check)
        verify = _check(step.verify) or done
        mitigation: str | None = "pause"
    elif isinstance(step, UnpauseStep):
        data = encode_call(method.unpause or "unpause()")
        done = _negated(_check(method.check))
        verify = _check(step.verify) or done
        mitigation = "unpause"
    elif isinstance(step, RevokeRoleStep):
        args = [step.role, step.account]
        data = encode_call("revokeRole(bytes32,address)", args)
        done = parse_check("!hasRole(bytes32,address)", args)
        verify = done
        mitigation = "revoke-role"
    else:
        data = encode_call(step.function, step.args)
        verify = _check(step.verify)
        done = verify
        mitigation = None
    summary = f"{step.action} {step.contract} as {step.signer}"
    return ContractAction(
        kind=step.action,
        summary=summary,
        chain=contract.chain,
        mitigation=mitigation,
        to=contract.address,
        signer=step.signer,
        data=data,
        done_when=done,
        verify=verify,
    )


def _safe_action(plan: Plan, step: SafeProposalStep) -> SafeAction:
    safe = plan.signers.get(step.safe)
    if not isinstance(safe, SafeSigner):
        raise PlanError(f"signer {step.safe!r} is not a Safe")
    contract = _contract(plan, step.contract)
    method = _pause(contract)
    function = step.function or method.function
    data = encode_call(function, step.args)
    is_pause = step.function is None or function == method.function
    done = _check(method.check) if is_pause else _check(step.verify)
    return SafeAction(
        kind="safe-proposal",
        summary=f"Safe {step.safe} calls {function} on {step.contract}",
        chain=safe.chain,
        mitigation="safe-proposal",
        safe=safe.address,
        to=contract.address,
        data=data,
        local_owners=list(safe.local_owners),
        done_when=done,
        verify=_check(step.verify) or done,
    )
