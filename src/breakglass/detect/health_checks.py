"""The health checks of :class:`~breakglass.detect.health.HealthWatch`, one class each.

Each is called every ``check_every`` and returns the conditions that hold now; raising means
it cannot tell (an endpoint failed mid-check), and the watch keeps what it said last time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from breakglass.chain.pool import EndpointPool
from breakglass.detect.engine import Detector
from breakglass.detect.health import PAUSE_GAS, Check, Condition, Vitals
from breakglass.detect.rule import Rule
from breakglass.errors import BreakglassError
from breakglass.plan.models import Plan
from breakglass.plan.models.chain import GasCaps as ChainGas
from breakglass.plan.models.chain import SafeSigner
from breakglass.plan.models.response import (
    CallStep,
    Mode,
    PauseStep,
    RevokeRoleStep,
    UnpauseStep,
)

__all__ = [
    "DisabledRules",
    "EndpointsDown",
    "GuardianFunds",
    "NoNewHead",
    "ResponseCrashed",
    "RulesBlindToState",
    "RulesWithoutCode",
    "Unarmed",
    "auto_key_steps",
    "build_checks",
]


@dataclass
class NoNewHead:
    vitals: Vitals
    chain: str
    after: float
    name: str = "no-head"

    async def __call__(self) -> list[Condition]:
        age = self.vitals.head_age()
        if age < self.after:
            return []
        head = self.vitals.head
        last = f"block {head.number}" if head is not None else "no block yet"
        return [
            Condition(
                self.name,
                "",
                f"no new block on {self.chain} for {age:.0f}s",
                f"The monitor has delivered no block for {age:.0f}s (last: {last}); "
                "rules are not running and nothing would be paused.",
                data={"seconds": round(age, 1), "after": self.after},
            )
        ]


@dataclass
class EndpointsDown:
    pool: EndpointPool
    chain: str
    name: str = "endpoints"

    async def __call__(self) -> list[Condition]:
        heads = await self.pool.refresh_heads()
        if any(head is not None for head in heads.values()):
            return []
        errors = {name: stats["last_error"] for name, stats in self.pool.stats().items()}
        detail = "; ".join(f"{name}: {error}" for name, error in errors.items())
        return [
            Condition(
                self.name,
                "",
                f"every RPC endpoint of {self.chain} is failing",
                f"None of the {len(heads)} endpoints answered for the latest block ({detail}).",
                data={"endpoints": errors},
            )
        ]


@dataclass
class RulesBlindToState:
    """Rules whose view calls failed (reverted or undecodable) at the last block."""

    rules: Sequence[Rule]
    vitals: Vitals
    name: str = "rule-state"

    async def __call__(self) -> list[Condition]:
        state = self.vitals.state
        found: list[Condition] = []
        for rule in self.rules:
            failed = [c for c in rule.state_calls() if c in state and state[c] is None]
            if not failed:
                continue
            calls = ", ".join(f"{c.signature} on {c.address}" for c in failed)
            found.append(
                Condition(
                    self.name,
                    rule.rule_id,
                    f"rule {rule.rule_id} cannot read its state",
                    f"These views reverted or returned nothing at the last block: {calls}. "
                    "The rule sees nothing until they answer.",
                    addresses=tuple(dict.fromkeys(c.address for c in failed)),
                    data={"calls": [c.signature for c in failed]},
                )
            )
        return found


def _code_addresses(rule: Rule) -> list[str]:
    """Addresses a rule listens to or reads, which must be contracts; a transaction rule's
    bare ``to`` may be any account, so only targets of a selector count."""
    found = [address.lower() for address, _ in rule.log_keys()]
    found += [to.lower() for to, selector in rule.tx_keys() if to and selector]
    found += [call.address for call in rule.state_calls()]
    return list(dict.fromkeys(found))


@dataclass
class RulesWithoutCode:
    rules: Sequence[Rule]
    pool: EndpointPool
    name: str = "no-code"

    async def __call__(self) -> list[Condition]:
        by_address: dict[str, list[str]] = {}
        for rule in self.rules:
            for address in _code_addresses(rule):
                by_address.setdefault(address, []).append(rule.rule_id)
        if not by_address:
            return []
        addresses = list(by_address)
        codes = await self.pool.batch([("eth_getCode", [a, "latest"]) for a in addresses])
        found: list[Condition] = []
        for address, code in zip(addresses, codes, strict=True):
            if isinstance(code, str) and code.removeprefix("0x").strip("0"):
                continue
            for rule_id in by_address[address]:
                found.append(
                    Condition(
                        self.name,
                        f"{rule_id}:{address}",
                        f"rule {rule_id} watches {address}, which has no code",
                        f"{address} holds no contract at the latest block: a wrong address in "
                        f"the plan, another chain's address, or a destroyed contract. Rule "
                        f"{rule_id} will never fire on it.",
                        addresses=(address,),
                        data={"rule": rule_id},
                    )
                )
        return found


class _Breaker(Protocol):
    def disabled_errors(self) -> dict[str, str]: ...


@dataclass
class DisabledRules:
    detector: _Breaker
    name: str = "rule-disabled"

    async def __call__(self) -> list[Condition]:
        return [
            Condition(
                self.name,
                rule_id,
                f"rule {rule_id} is disabled after repeated failures",
                f"Its failure budget is spent; detection for {rule_id} is off until the "
                f"monitor restarts. Last error: {error}"[:500],
                data={"rule": rule_id},
            )
            for rule_id, error in self.detector.disabled_errors().items()
        ]


@dataclass
class Unarmed:
    """Automatic contract steps the responder could not arm (no key, no gas estimate).

    ``steps`` describes the automatic steps the plan has on this chain; the responder says
    how many it armed (``armed``) and which failed (``arm_failures``), when it can.
    """

    responder: object
    steps: Sequence[str]
    chain: str
    name: str = "unarmed"

    async def __call__(self) -> list[Condition]:
        armed = getattr(self.responder, "armed", None)
        failures = list(getattr(self.responder, "arm_failures", None) or [])
        if not failures and not (armed == 0 and self.steps):
            return []
        what = "; ".join(failures) if failures else "none of: " + "; ".join(self.steps)
        count = len(failures) or len(self.steps)
        return [
            Condition(
                self.name,
                "",
                f"{count} automatic step(s) on {self.chain} are not armed",
                f"These would not run when their rule fires: {what}"[:500],
                data={"armed": armed, "failures": failures[:20]},
            )
        ]


@dataclass
class ResponseCrashed:
    """Playbook runs that ended in an internal error rather than a step result.

    A failed step is announced by the journal; a run that crashes before or between its
    steps has nobody to announce it, so it stands here until the monitor restarts.
    """

    responder: object
    chain: str
    name: str = "response-crashed"

    async def __call__(self) -> list[Condition]:
        crashes = list(getattr(self.responder, "crashes", None) or [])
        if not crashes:
            return []
        return [
            Condition(
                self.name,
                "",
                f"{len(crashes)} playbook run(s) on {self.chain} crashed",
                f"Their containment may not have happened: {'; '.join(crashes[-5:])}"[:500],
                data={"crashes": crashes[-20:]},
            )
        ]


@dataclass
class GuardianFunds:
    """Keys of automatic steps that cannot pay for ``min_txs`` emergency transactions of
    ``gas`` each at ``fee()`` (wei per gas: the plan's cap, else the emergency bid)."""

    pool: EndpointPool
    guardians: Mapping[str, str]
    fee: Callable[[], Awaitable[int]]
    min_txs: int = 3
    gas: int = PAUSE_GAS
    name: str = "guardian-balance"

    async def __call__(self) -> list[Condition]:
        if not self.guardians:
            return []
        max_fee = await self.fee()
        per_tx = self.gas * max_fee
        needed = self.min_txs * per_tx
        names = list(self.guardians)
        raw = await self.pool.batch(
            [("eth_getBalance", [self.guardians[n], "latest"]) for n in names]
        )
        found: list[Condition] = []
        for name, value in zip(names, raw, strict=True):
            balance = int(value, 16)
            if balance >= needed:
                continue
            address = self.guardians[name].lower()
            found.append(
                Condition(
                    self.name,
                    name,
                    f"signer {name} can pay for {balance // per_tx} of {self.min_txs} "
                    "emergency transactions",
                    f"{address} holds {balance / 1e18:.6f} native tokens; {self.min_txs} "
                    f"transactions of {self.gas} gas at {max_fee / 1e9:.2f} gwei need "
                    f"{needed / 1e18:.6f}. Top it up before a pause runs out of gas.",
                    addresses=(address,),
                    data={"balance_wei": str(balance), "required_wei": str(needed)},
                )
            )
        return found


_KEY_STEPS = (PauseStep, UnpauseStep, CallStep, RevokeRoleStep)


def auto_key_steps(plan: Plan, chain: str) -> list[tuple[str, str]]:
    """``(description, signer)`` of each automatic contract step that the rules of ``chain``
    can start (the steps a responder arms)."""
    rules = {r.id for r in plan.rules if r.chain in (None, chain)}
    found: list[tuple[str, str]] = []
    for playbook in plan.playbooks:
        if not (set(playbook.on) & rules or playbook.severities):
            continue
        for position, step in enumerate(playbook.steps, start=1):
            if step.mode is not Mode.AUTO or not isinstance(step, _KEY_STEPS):
                continue
            contract = plan.contracts.get(step.contract)
            if contract is not None and contract.chain == chain:
                where = f"{playbook.id} step {position} ({step.action} {step.contract})"
                found.append((where, step.signer))
    return found


def _signer_address(plan: Plan, name: str, responder: object) -> str | None:
    config = plan.signers.get(name)
    if config is None or isinstance(config, SafeSigner):
        return None
    if config.address is not None:
        return str(config.address)
    # The responder loaded the key when it armed; asking it again costs nothing.
    local = getattr(getattr(responder, "env", None), "local_signer", None)
    if local is None:
        return None
    try:
        return str(local(name).address)
    except BreakglassError:
        return None  # the unarmed check says so


def _emergency_fee(
    pool: EndpointPool, caps: ChainGas, chain_id: int
) -> Callable[[], Awaitable[int]]:
    # respond prices its own transactions; the budget uses the very same bid.
    from breakglass.respond.gas import GasCaps, GasStrategy, Urgency  # noqa: PLC0415

    strategy = GasStrategy(pool, GasCaps.from_plan(caps), chain_id=chain_id)

    async def fee() -> int:
        return (await strategy.quote(Urgency.EMERGENCY)).max_fee_per_gas

    return fee


def build_checks(
    *,
    plan: Plan,
    chain: str,
    pool: EndpointPool,
    detector: Detector,
    vitals: Vitals,
    responder: object | None,
) -> list[Check]:
    """Every check of the monitor of ``chain``; the responder's only when it runs one."""
    config = plan.chains[chain]
    checks: list[Check] = [
        NoNewHead(vitals, chain, config.no_head_after().total_seconds()),
        EndpointsDown(pool, chain),
        RulesBlindToState(detector.rules, vitals),
        RulesWithoutCode(detector.rules, pool),
        DisabledRules(detector),
    ]
    if responder is None:
        return checks
    steps = auto_key_steps(plan, chain)
    checks.append(Unarmed(responder, [where for where, _ in steps], chain))
    checks.append(ResponseCrashed(responder, chain))
    guardians: dict[str, str] = {}
    for _, signer in steps:
        address = guardians.get(signer) or _signer_address(plan, signer, responder)
        if address is not None:
            guardians[signer] = address
    if guardians:
        fee = _emergency_fee(pool, config.gas, config.chain_id)
        checks.append(GuardianFunds(pool, guardians, fee, config.health.guardian_min_txs))
    return checks
