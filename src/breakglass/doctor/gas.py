"""Each signer can pay for its emergency transactions at the plan's gas cap."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from breakglass.chain.errors import RpcError
from breakglass.detect.health import PAUSE_GAS
from breakglass.detect.health_checks import auto_key_steps
from breakglass.doctor.base import DoctorCheck, Finding, NotChecked
from breakglass.doctor.context import DoctorContext
from breakglass.errors import BreakglassError
from breakglass.plan.issues import Path
from breakglass.plan.models.chain import SafeSigner
from breakglass.plan.models.response import (
    CallStep,
    PauseStep,
    Playbook,
    RevokeRoleStep,
    Step,
    UnpauseStep,
)
from breakglass.respond.actions.base import Action
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.gas import GasCaps, GasStrategy, Urgency
from breakglass.respond.templates import step_actions

__all__ = ["GasFundsCheck"]

_GWEI = Decimal(10**9)
_ETHER = Decimal(10**18)
FALLBACK_GAS = 300_000
"""Gas assumed for a call that cannot be estimated now (it would revert, e.g. an unpause of
a contract that is not paused); the sender re-estimates when it sends."""
SAFE_EXEC_GAS = 150_000
"""Gas assumed for a Safe's ``execTransaction`` of a pause (about 90k measured with two
signatures on Safe 1.4.1), paid by the first local owner whose key is here."""


@dataclass
class _Spend:
    chain: str
    signer: str
    calls: list[tuple[str, bytes]] = field(default_factory=list)  # (to, data), estimated
    fixed_gas: int = 0  # Safe executions, not estimated

    @property
    def path(self) -> Path:
        return ("signers", self.signer)


def _actions(ctx: DoctorContext, playbook: Playbook) -> Iterator[tuple[Step, Action]]:
    """Each step's action on every chain it may act on (``${finding.*}`` filled with sample
    values); steps that do not build are left out: pause.authority and `plan check` report
    them."""
    for step in playbook.steps:
        for _chain, action in step_actions(ctx.plan, step, playbook.id):
            if not isinstance(action, BreakglassError):
                yield step, action


def _spends(ctx: DoctorContext) -> dict[tuple[str, str], _Spend]:
    """What each key signer sends on each chain in scope, from every playbook step."""
    spends: dict[tuple[str, str], _Spend] = {}
    seen: set[tuple[str, str, str, bytes]] = set()
    safe_steps: defaultdict[tuple[str, str], int] = defaultdict(int)
    for playbook in ctx.plan.playbooks:
        for step, action in _actions(ctx, playbook):
            if action.chain is None or not ctx.in_scope(action.chain):
                continue
            if isinstance(step, PauseStep | UnpauseStep | CallStep | RevokeRoleStep):
                assert isinstance(action, ContractAction)
                key = (action.chain, step.signer)
                spend = spends.setdefault(key, _Spend(action.chain, step.signer))
                if (action.chain, step.signer, action.to, action.data) not in seen:
                    seen.add((action.chain, step.signer, action.to, action.data))
                    spend.calls.append((action.to, action.data))
            elif step.action == "safe-proposal":
                safe = ctx.plan.signers.get(step.safe)
                if isinstance(safe, SafeSigner) and safe.local_owners:
                    safe_steps[(action.chain, safe.local_owners[0])] += 1
                    key = (action.chain, safe.local_owners[0])
                    spends.setdefault(key, _Spend(action.chain, safe.local_owners[0]))
    for key, count in safe_steps.items():
        spends[key].fixed_gas += count * SAFE_EXEC_GAS
    return spends


def _eth(wei: int) -> str:
    return f"{(Decimal(wei) / _ETHER).normalize():f} ETH"


def _gwei(wei: int) -> str:
    return f"{(Decimal(wei) / _GWEI).quantize(Decimal('0.001')).normalize():f} gwei"


class GasFundsCheck(DoctorCheck):
    id = "gas.funds"
    title = "Each signer can pay for its emergency transactions at the plan's gas cap"
    needs = (
        "The signer's address and balance, the gas each of its playbook transactions takes "
        "(eth_estimateGas from it), and the chain's `gas.max_fee_gwei` cap (or, without one, "
        "today's emergency fee)."
    )
    fix = (
        "Send the signer at least the shortfall (keep a margin: a node accepts a transaction "
        "only when the balance covers gas limit times max fee), or lower the cap knowing that a "
        "lower cap may lose the race to the next block."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for spend in _spends(ctx).values():
            try:
                yield await self._one(ctx, spend)
            except NotChecked as exc:
                yield Finding.not_checked(f"{spend.signer} on {spend.chain}", exc, spend.path)

    async def _one(self, ctx: DoctorContext, spend: _Spend) -> Finding:
        subject = f"{spend.signer} on {spend.chain}"
        rpc = await ctx.rpc(spend.chain)
        sender = ctx.signer_address(spend.signer)
        gas = spend.fixed_gas
        for to, data in spend.calls:
            call = {"from": sender, "to": to, "data": "0x" + data.hex()}
            try:
                estimate = int(await rpc.request("eth_estimateGas", [call]), 16)
            except RpcError:
                estimate = FALLBACK_GAS
            gas += estimate * 6 // 5  # the margin the sender adds to its own estimates
        caps = ctx.plan.chains[spend.chain].gas
        capped = caps.max_fee_gwei is not None
        chain_id = ctx.plan.chains[spend.chain].chain_id
        strategy = GasStrategy(rpc, GasCaps.from_plan(caps), chain_id=chain_id)
        max_fee = (await strategy.quote(Urgency.EMERGENCY)).max_fee_per_gas
        balance = int(await rpc.request("eth_getBalance", [sender, "latest"]), 16)
        count = len(spend.calls) + (spend.fixed_gas // SAFE_EXEC_GAS)
        txs = f"{count} transaction(s)"
        floor = _monitor_floor(ctx, spend)
        if floor > gas:
            # The monitor's guardian-balance alert asks this much of an automatic step's
            # key; passing here and paging at the monitor's first check would help nobody.
            gas = floor
            txs = f"monitor budget of {floor // PAUSE_GAS} emergency transaction(s)"
        needed = gas * max_fee
        price = f"{_gwei(max_fee)} ({'the plan cap' if capped else 'emergency fee now, no cap'})"
        cost = f"{txs}, {gas:,} gas, need up to {_eth(needed)} at {price}"
        who = f"{spend.signer} ({sender}) holds {_eth(balance)}"
        if balance < needed:
            return Finding.fail(
                subject,
                f"{who}; its {cost}: send it at least {_eth(needed - balance)} more",
                spend.path,
            )
        return Finding.ok(subject, f"{who}; its {cost}", spend.path)


def _monitor_floor(ctx: DoctorContext, spend: _Spend) -> int:
    """Gas the monitor's ``guardian-balance`` health check budgets for ``spend``'s signer:
    ``health.guardian_min_txs`` times 100,000 for a key of an automatic step, else nothing."""
    if spend.signer not in {signer for _, signer in auto_key_steps(ctx.plan, spend.chain)}:
        return 0
    return ctx.plan.chains[spend.chain].health.guardian_min_txs * PAUSE_GAS
