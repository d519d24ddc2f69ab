"""Verify a candidate fix against the incident's replayed exploit, on a local fork.

:func:`verify_fix` forks the incident's chain before its first exploit transaction (and
before the regression window), replays the window's honest transactions and the exploit
without the fix, then again with the fix applied, and judges: every exploit transaction must
revert or take nothing from the watched contracts; every honest one must succeed or fail as
before, with the same balance changes (else it is listed for a person to judge); every
upgrade must keep the storage layout, the key views and the plan's invariants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass.analysis.transfers import TRANSFER_TOPIC
from breakglass.errors import BreakglassError
from breakglass.recovery.fix_report import (
    ExploitReplay,
    FixReport,
    Outcome,
    Regression,
    UpgradeCheck,
)
from breakglass.recovery.fixspec import (
    CallFix,
    DeployFix,
    FixError,
    FixSpec,
    UpgradeFix,
    load_artifact,
)
from breakglass.recovery.fork import ETH, Fork, Receipt, RemoteChain, encode_args, encode_call
from breakglass.recovery.history import ChainTx, exploit_txs, window_txs
from breakglass.recovery.invariants import plan_invariants
from breakglass.recovery.layout import layout_problems

if TYPE_CHECKING:
    from breakglass.plan.loader import LoadedPlan

__all__ = ["ADMIN_SLOT", "FIX_DEPLOYER", "IMPLEMENTATION_SLOT", "Incident", "verify_fix"]

ADMIN_SLOT = int("b53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103", 16)
"""EIP-1967 admin slot of a proxy."""
IMPLEMENTATION_SLOT = int("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc", 16)
"""EIP-1967 implementation slot of a proxy."""

FIX_DEPLOYER = "0x" + keccak(text="breakglass fix deployer")[12:].hex()
"""Deploys the fix on the fork: an account of its own, so no replayed sender's nonce moves."""

_GAS_MARGIN = 200_000
_GAS_CAP = 30_000_000


def _gas(tx: ChainTx) -> int:
    """The original limit with room for a fix that costs a little more, within a block."""
    return min(tx.gas + _GAS_MARGIN, max(tx.gas, _GAS_CAP))


@dataclass(frozen=True, slots=True)
class Incident:
    """What the verification needs to know of the incident."""

    id: int
    exploit_txs: tuple[str, ...]
    attackers: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Context:
    fork: Fork
    watched: set[str]
    assets: set[str]
    spec_dir: Path
    plan_addresses: dict[str, str]
    deployed: dict[str, str] = field(default_factory=dict)

    def address(self, ref: str, what: str) -> str:
        name = ref.removeprefix("@")
        if name in self.deployed:
            return self.deployed[name]
        if name in self.plan_addresses:
            return self.plan_addresses[name]
        if ref.startswith("0x") and len(ref) == 42:
            return ref.lower()
        known = ", ".join(sorted({*self.deployed, *self.plan_addresses})) or "none"
        raise FixError(
            f"{what} {ref!r} is no deployment of the fix, plan contract or address (known: {known})"
        )

    def resolve(self, args: Iterable[Any]) -> list[Any]:
        return [
            self.address(a, "argument") if isinstance(a, str) and a.startswith("@") else a
            for a in args
        ]


def _changes(
    fork: Fork, receipt: Receipt, parties: set[str], assets: set[str], watched: set[str]
) -> dict[str, dict[str, int]]:
    tokens = {
        str(log["address"]).lower()
        for log in receipt.logs
        if log.get("topics") and str(log["topics"][0]).lower() == TRANSFER_TOPIC
    }
    every = assets | tokens
    before = fork.balances(parties, every, receipt.block - 1)
    after = fork.balances(parties, every, receipt.block)
    changes: dict[str, dict[str, int]] = defaultdict(dict)
    for (party, asset), value in after.items():
        if asset == ETH and party not in watched:
            continue  # a sender's ether pays for gas, which a fix may change
        delta = value - before[(party, asset)]
        if delta:
            changes[party][asset] = delta
    return dict(changes)


def _replay(ctx: _Context, tx: ChainTx) -> Outcome:
    receipt = ctx.fork.send(tx.sender, tx.data, to=tx.to, value=tx.value, gas=_gas(tx))
    parties = ctx.watched | {tx.sender}
    return Outcome(receipt.success, _changes(ctx.fork, receipt, parties, ctx.assets, ctx.watched))


def _replay_window(
    ctx: _Context, window: Sequence[tuple[ChainTx, bool]]
) -> list[tuple[ChainTx, Outcome]]:
    """Replay the window; the outcomes of its honest transactions."""
    outcomes: list[tuple[ChainTx, Outcome]] = []
    for tx, honest in window:
        if honest:
            outcomes.append((tx, _replay(ctx, tx)))
        else:
            ctx.fork.send(tx.sender, tx.data, to=tx.to, value=tx.value, gas=_gas(tx))
    return outcomes


def _taken(outcome: Outcome, watched: set[str]) -> dict[str, int]:
    """What the watched contracts lost together, per asset."""
    net: dict[str, int] = defaultdict(int)
    for party, deltas in outcome.changes.items():
        if party in watched:
            for asset, delta in deltas.items():
                net[asset] += delta
    return {asset: -total for asset, total in sorted(net.items()) if total < 0}


def _read_views(ctx: _Context, proxy: str, checks: Sequence[str]) -> dict[str, str | None]:
    return {view: ctx.fork.call(proxy, encode_call(view, [])) for view in checks}


def _invariants(
    ctx: _Context, loaded: LoadedPlan | None, chain: str, proxy: str
) -> dict[str, bool | None]:
    """Each invariant rule of the plan on ``proxy``: holds, does not, or cannot be read."""
    if loaded is None:
        return {}
    head = ctx.fork.rpc("eth_getBlockByNumber", ["latest", False])
    block = {"number": int(head["number"], 16), "timestamp": int(head["timestamp"], 16)}
    return plan_invariants(loaded, chain=chain, call=ctx.fork.call, block=block, only=proxy)


def _slots(ctx: _Context, proxy: str, slots: Sequence[str]) -> dict[str, str]:
    return {slot: ctx.fork.storage(proxy, int(slot, 0)) for slot in slots}


def _deploy(ctx: _Context, step: DeployFix, report: FixReport, layouts: dict[str, Any]) -> None:
    if step.artifact is not None:
        artifact = load_artifact(ctx.spec_dir / step.artifact)
        bytecode, layouts[step.name] = artifact.bytecode, artifact.storage_layout
    else:
        bytecode = str(step.bytecode)
    data = bytecode + encode_args(step.arg_types, ctx.resolve(step.args)).hex()
    sender = step.sender or FIX_DEPLOYER
    receipt = ctx.fork.send(sender, data)
    if not receipt.success or receipt.contract is None:
        raise FixError(f"deploying {step.name} reverted on the fork")
    ctx.deployed[step.name] = receipt.contract
    code = ctx.fork.code(receipt.contract)
    report.implementations[step.name] = {
        "fork_address": receipt.contract,
        "codehash": "0x" + keccak(bytes.fromhex(code[2:])).hex(),
        "live_address": step.address,
    }
    report.steps.append(f"deploy {step.name} at {receipt.contract} (fork)")


def _owner(ctx: _Context, contract: str) -> str | None:
    raw = ctx.fork.call(contract, encode_call("owner()", []))
    return "0x" + raw[-40:] if raw and len(raw) >= 66 else None


def _upgrade(
    ctx: _Context,
    step: UpgradeFix,
    spec: FixSpec,
    report: FixReport,
    layouts: dict[str, Any],
    loaded: LoadedPlan | None,
    chain: str,
) -> None:
    proxy = ctx.address(step.proxy, "proxy")
    implementation = ctx.address(step.implementation, "implementation")
    if step.admin is not None:
        admin = ctx.address(step.admin, "admin")
    else:
        admin = "0x" + ctx.fork.storage(proxy, ADMIN_SLOT)[-40:]
    owner = _owner(ctx, admin)
    if owner is None:
        raise FixError(f"the proxy admin {admin} of {proxy} has no owner(): is it a ProxyAdmin?")
    check = UpgradeCheck(proxy=proxy, implementation=implementation)
    previous = step.previous_artifact
    old_layout = load_artifact(ctx.spec_dir / previous).storage_layout if previous else None
    new_layout = layouts.get(step.implementation.removeprefix("@"))
    if old_layout is not None and new_layout is not None:
        check.layout_compared = True
        check.layout_problems = layout_problems(old_layout, new_layout)
    views_before = _read_views(ctx, proxy, spec.checks)
    invariants_before = _invariants(ctx, loaded, chain, proxy)
    slots_before = _slots(ctx, proxy, spec.slots)
    if step.call is None:
        data = encode_call("upgrade(address,address)", [proxy, implementation])
    else:
        inner = bytes.fromhex(encode_call(step.call, ctx.resolve(step.args))[2:])
        data = (
            "0x"
            + (
                keccak(text="upgradeAndCall(address,address,bytes)")[:4]
                + encode(["address", "address", "bytes"], [proxy, implementation, inner])
            ).hex()
        )
    receipt = ctx.fork.send(owner, data, to=admin)
    if not receipt.success:
        raise FixError(f"upgrading {proxy} to {implementation} reverted (sent by {owner})")
    report.steps.append(f"upgrade {proxy} to {implementation} through {admin} as {owner}")
    views_after = _read_views(ctx, proxy, spec.checks)
    invariants_after = _invariants(ctx, loaded, chain, proxy)
    slots_after = _slots(ctx, proxy, spec.slots)
    check.views = [(v, views_before[v], views_after[v]) for v in spec.checks]
    check.invariants = [
        (k, invariants_before[k], invariants_after.get(k)) for k in invariants_before
    ]
    check.slots = [(s, slots_before[s], slots_after[s]) for s in spec.slots]
    report.upgrades.append(check)


def _call(ctx: _Context, step: CallFix, report: FixReport) -> None:
    to = ctx.address(step.to, "call target")
    sender = ctx.address(step.sender, "sender") if step.sender else _owner(ctx, to)
    if sender is None:
        raise FixError(f"call {step.function} on {to}: give `from` (the target has no owner())")
    receipt = ctx.fork.send(
        sender, encode_call(step.function, ctx.resolve(step.args)), to=to, value=step.value
    )
    if not receipt.success:
        raise FixError(f"call {step.function} on {to} as {sender} reverted on the fork")
    report.steps.append(f"call {step.function} on {to} as {sender}")


def _apply(
    ctx: _Context, spec: FixSpec, report: FixReport, loaded: LoadedPlan | None, chain: str
) -> None:
    layouts: dict[str, Any] = {}
    for step in spec.steps:
        if step.deploy is not None:
            _deploy(ctx, step.deploy, report, layouts)
        elif step.upgrade is not None:
            _upgrade(ctx, step.upgrade, spec, report, layouts, loaded, chain)
        elif step.call is not None:
            _call(ctx, step.call, report)


def verify_fix(
    *,
    url: str,
    chain: str,
    incident: Incident,
    spec: FixSpec,
    digest: str,
    spec_dir: Path,
    watched: Mapping[str, str],
    assets: Iterable[str] = (),
    loaded: LoadedPlan | None = None,
) -> FixReport:
    """Verify ``spec`` against ``incident``'s exploit on a fork of ``url``.

    Args:
        watched: the plan's contracts on the incident's chain, name → address.
        assets: tokens whose balances count besides those the transactions move.
        loaded: the plan, for its invariant rules on upgraded proxies.

    Raises:
        FixError: the incident has no exploit transaction, or the fix could not be applied
            (the report is then not a verdict: the fix is wrong or the spec is).
    """
    if not incident.exploit_txs:
        raise FixError(
            f"incident #{incident.id} has no exploit transaction in its evidence; "
            "run `breakglass analyze incident` or pass --tx"
        )
    remote = RemoteChain(url)
    try:
        chain_id = int(remote.rpc("eth_chainId"), 16)
        exploits = exploit_txs(remote, incident.exploit_txs)
        first = exploits[0].block
        start = max(1, first - spec.regression_blocks)
        addresses = {a.lower() for a in watched.values()}
        skip = set(incident.attackers) | {t.sender for t in exploits}
        window = window_txs(remote, start, exploits[0], addresses, skip)
    finally:
        remote.close()
    fork_block = start - 1
    report = FixReport(
        incident_id=incident.id,
        fix_name=spec.name,
        fix_digest=digest,
        chain=chain,
        fork_block=fork_block,
        first_exploit_block=first,
    )
    every_asset = {ETH, *(a.lower() for a in assets)}
    for tx in (*exploits, *(t for t, honest in window if honest)):
        every_asset |= tx.tokens
    fork = Fork.start(url, block=fork_block, chain_id=chain_id)
    try:
        ctx = _Context(
            fork, addresses, every_asset, spec_dir, {n: a.lower() for n, a in watched.items()}
        )
        missing = sorted(n for n, a in ctx.plan_addresses.items() if fork.code(a) in ("0x", ""))
        if missing:
            raise FixError(
                f"{', '.join(missing)} had no code at block {fork_block}, where the fork starts "
                f"({spec.regression_blocks} blocks before the exploit): lower regression_blocks"
            )
        clean = fork.snapshot()
        baseline = _replay_window(ctx, window)
        baseline_exploits = [_replay(ctx, tx) for tx in exploits]
        fork.revert(clean)
        try:
            _apply(ctx, spec, report, loaded, chain)
        except (FixError, BreakglassError) as exc:
            report.apply_error = str(exc)
            return report.judge()
        fixed = _replay_window(ctx, window)
        for (tx, before), (_, now) in zip(baseline, fixed, strict=True):
            report.regressions.append(Regression(tx.hash, before, now))
        for tx, before in zip(exploits, baseline_exploits, strict=True):
            after = _replay(ctx, tx)
            report.exploits.append(
                ExploitReplay(
                    tx.hash, before, after, _taken(before, addresses), _taken(after, addresses)
                )
            )
    finally:
        fork.stop()
    return report.judge()
