"""Contracts exist where the plan says, and each pause step's signer may really pause."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from breakglass.chain.errors import EndpointError
from breakglass.doctor.base import DoctorCheck, Finding, NotChecked
from breakglass.doctor.context import DoctorContext
from breakglass.errors import BreakglassError
from breakglass.plan.issues import Path
from breakglass.plan.models.response import PauseStep, SafeProposalStep
from breakglass.respond.actions.base import Rpc, StepFailed
from breakglass.respond.actions.contract import ContractAction, check_holds, simulate
from breakglass.respond.actions.safe import SafeAction
from breakglass.respond.calls import encode_call, parse_check
from breakglass.respond.templates import step_actions

__all__ = ["CodeCheck", "PauseAuthorityCheck", "PauseStepPlan", "pause_steps"]

PAUSER_ROLE = "PAUSER_ROLE"


class CodeCheck(DoctorCheck):
    id = "contracts.code"
    title = "Code exists at every contract address"
    needs = "An endpoint of the contract's chain; one eth_getCode call per contract."
    fix = (
        "Correct the address (a typo, or the address on another network), or the contract's "
        "`chain`; a contract that is not deployed yet cannot be watched or paused."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        deployments = [
            (name, declared.on(chain))
            for name, declared in ctx.plan.contracts.items()
            for chain in declared.chains
        ]
        for name, contract in deployments:
            if not ctx.in_scope(contract.chain):
                continue
            many = len(ctx.plan.contracts[name].chains) > 1
            path: Path = (
                ("contracts", name, "deployments", contract.chain, "address")
                if ctx.plan.contracts[name].deployments
                else ("contracts", name, "address")
            )
            subject = f"{name} on {contract.chain}" if many else name
            try:
                rpc = await ctx.rpc(contract.chain)
                code = str(await rpc.request("eth_getCode", [contract.address, "latest"]))
            except NotChecked as exc:
                yield Finding.not_checked(subject, exc, path)
                continue
            except EndpointError as exc:
                yield Finding.fail(subject, f"could not read its code: {exc}", path)
                continue
            size = (len(code) - 2) // 2
            if size <= 0:
                yield Finding.fail(
                    subject,
                    f"no code at {contract.address} on {contract.chain}: not deployed there, "
                    "or the address is another network's",
                    path,
                )
            else:
                yield Finding.ok(subject, f"{size} bytes of code at {contract.address}", path)


@dataclass(frozen=True)
class PauseStepPlan:
    """A pause a playbook would send: who sends it, to what, from which step."""

    chain: str
    contract: str
    signer: str  # a key signer's or a Safe's plan name
    to: str
    action: ContractAction | SafeAction
    path: Path

    @property
    def subject(self) -> str:
        return f"{self.contract} by {self.signer}"


def pause_steps(ctx: DoctorContext) -> tuple[list[PauseStepPlan], list[Finding]]:
    """Every distinct pause the playbooks would send on the chains in scope, and a failure
    for each step that cannot even be built."""
    steps: dict[tuple[str, str, bytes, str], PauseStepPlan] = {}
    problems: list[Finding] = []
    for i, playbook in enumerate(ctx.plan.playbooks):
        for j, step in enumerate(playbook.steps):
            path: Path = ("playbooks", i, "steps", j)
            if isinstance(step, PauseStep):
                signer = step.signer
            elif isinstance(step, SafeProposalStep) and _is_pause(ctx, step):
                signer = step.safe
            else:
                continue
            # On every chain it may act on, ${finding.*} filled with sample values.
            for chain, action in step_actions(ctx.plan, step, playbook.id):
                if isinstance(action, BreakglassError):
                    if chain is None or ctx.in_scope(chain):
                        on = f" on {chain}" if chain is not None else ""
                        subject = f"{playbook.id} step {j + 1}{on}"
                        problems.append(Finding.fail(subject, str(action), path))
                    continue
                assert isinstance(action, ContractAction | SafeAction)
                if not ctx.in_scope(action.chain):
                    continue
                key = (action.chain, action.to, action.data, signer)
                steps.setdefault(
                    key,
                    PauseStepPlan(action.chain, step.contract, signer, action.to, action, path),
                )
    return list(steps.values()), problems


def _is_pause(ctx: DoctorContext, step: SafeProposalStep) -> bool:
    contract = ctx.plan.contracts.get(step.contract)
    method = contract.pause if contract is not None else None
    return step.function is None or (method is not None and step.function == method.function)


async def _holds_role(rpc: Rpc, to: str, sender: str) -> bool | None:
    """Whether ``sender`` holds ``PAUSER_ROLE`` (None: the contract has no ``hasRole``)."""
    check = parse_check("hasRole(bytes32,address)", [PAUSER_ROLE, sender])
    try:
        return await check_holds(rpc, to, check)
    except StepFailed:
        return None


async def _owner(rpc: Rpc, to: str) -> str | None:
    """The contract's ``owner()``, or None when it has none."""
    call = {"to": to, "data": "0x" + encode_call("owner()").hex()}
    try:
        raw = str(await rpc.request("eth_call", [call, "latest"]))
    except EndpointError:
        return None
    return "0x" + raw[-40:] if len(raw) == 66 else None


async def _authority(rpc: Rpc, to: str, sender: str) -> tuple[bool | None, str]:
    """What the contract says about ``sender``'s right to pause: (holds, description)."""
    role = await _holds_role(rpc, to, sender)
    if role is not None:
        return role, f"{'holds' if role else 'does not hold'} {PAUSER_ROLE}"
    owner = await _owner(rpc, to)
    if owner is not None:
        is_owner = owner.lower() == sender.lower()
        return is_owner, "is the owner()" if is_owner else f"is not the owner() ({owner})"
    return None, "the contract has neither hasRole nor owner()"


class PauseAuthorityCheck(DoctorCheck):
    id = "pause.authority"
    title = "Each pause step's signer may pause: its call succeeds when simulated from it"
    needs = (
        "The signer's address (its key, or the plan's `address`) and an endpoint of the "
        "contract's chain; an eth_call of the pause from the signer, hasRole(PAUSER_ROLE) "
        "or owner() to say why."
    )
    fix = (
        "Grant the signer the role the pause needs (for OpenZeppelin, "
        "`grantRole(PAUSER_ROLE, signer)` from the role's admin), or make the step use a "
        "signer that holds it. A Safe step needs the Safe itself to hold the role."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        steps, problems = pause_steps(ctx)
        for problem in problems:
            yield problem
        for step in steps:
            try:
                yield await self._one(ctx, step)
            except NotChecked as exc:
                yield Finding.not_checked(step.subject, exc, step.path)

    async def _one(self, ctx: DoctorContext, step: PauseStepPlan) -> Finding:
        rpc = await ctx.rpc(step.chain)
        sender = ctx.signer_address(step.signer)
        action = step.action
        who = f"{step.signer} ({sender})"
        try:
            already = await simulate(rpc, step.to, action.data, sender, action.done_when)
        except StepFailed as exc:
            _, why = await _authority(rpc, step.to, sender)
            return Finding.fail(
                step.subject,
                f"{who} cannot pause {step.contract}: {exc.reason}; it {why}",
                step.path,
            )
        holds, why = await _authority(rpc, step.to, sender)
        if not already:
            return Finding.ok(
                step.subject, f"{who} can pause {step.contract} (simulated); it {why}", step.path
            )
        done = action.done_when.text if action.done_when else "its check"
        if holds:
            return Finding.ok(
                step.subject,
                f"{step.contract} is already paused ({done}), so the pause was not simulated; "
                f"{who} {why}",
                step.path,
            )
        return Finding.warn(
            step.subject,
            f"{step.contract} is already paused ({done}): the pause cannot be simulated and "
            f"{who} {why}; check again once it is unpaused",
            step.path,
        )
