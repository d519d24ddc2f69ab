"""Restore operations: the verified fix and every unpause as one Safe transaction, executed
only when the plan's gates hold.

:func:`restore_calls` builds the calls (each upgrade of the fix through its ProxyAdmin, each
configuration call, the unpause of every paused contract of the plan); :func:`multisend`
batches them for MultiSendCallOnly (a delegatecall of the Safe, so every call is made by the
Safe itself); :func:`simulate` runs them as the Safe on a fork of the head; :func:`gates`
judges, against the live chain, whether the batch may run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass.recovery.fix import ADMIN_SLOT, IMPLEMENTATION_SLOT
from breakglass.recovery.fixspec import FixError, FixSpec
from breakglass.recovery.fork import Fork, RemoteChain, encode_call
from breakglass.recovery.invariants import plan_invariants

if TYPE_CHECKING:
    from breakglass.plan.loader import LoadedPlan
    from breakglass.plan.models import Plan

__all__ = [
    "Gate",
    "RestoreCall",
    "effects_missing",
    "gate_fix_verified",
    "gate_invariants",
    "multisend",
    "restore_calls",
    "simulate",
    "view_call",
]


@dataclass(frozen=True, slots=True)
class RestoreCall:
    """One call the Safe makes: what it is for, where, and its calldata."""

    label: str
    to: str
    data: str
    upgrade: tuple[str, str] | None = None
    """(proxy, implementation) when this call upgrades a proxy."""
    unpause: str | None = None
    """The contract's plan name when this call unpauses it."""


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    ok: bool
    detail: str


def _word_address(word: str) -> str:
    return "0x" + word[-40:].lower()


def _is_true(raw: Any) -> bool:
    return isinstance(raw, str) and len(raw) >= 66 and int(raw[2:66], 16) != 0


def view_call(remote: RemoteChain, to: str, data: str) -> str | None:
    """``eth_call`` at the head, or ``None`` when it reverts."""
    try:
        return str(remote.rpc("eth_call", [{"to": to, "data": data}, "latest"]))
    except Exception:  # a revert (or any refusal) means the view says nothing
        return None


def _address(plan: Plan, spec: FixSpec, ref: str, what: str) -> str:
    name = ref.removeprefix("@")
    for step in spec.steps:
        if step.deploy is not None and step.deploy.name == name:
            if step.deploy.address is None:
                raise FixError(
                    f"deployment {name!r} has no `address`: deploy the verified bytecode on the "
                    "chain and write its address into the fix"
                )
            return step.deploy.address.lower()
    if name in plan.contracts:
        return plan.contracts[name].address.lower()
    if ref.startswith("0x") and len(ref) == 42:
        return ref.lower()
    raise FixError(f"{what} {ref!r} is no deployment of the fix, plan contract or address")


def _args(plan: Plan, spec: FixSpec, args: Sequence[Any]) -> list[Any]:
    return [
        _address(plan, spec, a, "argument") if isinstance(a, str) and a.startswith("@") else a
        for a in args
    ]


def restore_calls(
    *, plan: Plan, spec: FixSpec, chain: str, remote: RemoteChain
) -> list[RestoreCall]:
    """The fix's upgrades and calls, then the unpause of every contract of ``chain`` that
    is paused at the head (by its ``pause.check`` view).

    Raises:
        FixError: a deployment has no live address, or a reference names nothing.
    """
    calls: list[RestoreCall] = []
    for step in spec.steps:
        if step.upgrade is not None:
            up = step.upgrade
            proxy = _address(plan, spec, up.proxy, "proxy")
            implementation = _address(plan, spec, up.implementation, "implementation")
            if up.admin is not None:
                admin = _address(plan, spec, up.admin, "admin")
            else:
                admin = _word_address(
                    str(remote.rpc("eth_getStorageAt", [proxy, hex(ADMIN_SLOT), "latest"]))
                )
            if up.call is None:
                data = encode_call("upgrade(address,address)", [proxy, implementation])
            else:
                inner = bytes.fromhex(encode_call(up.call, _args(plan, spec, up.args))[2:])
                data = (
                    "0x"
                    + (
                        keccak(text="upgradeAndCall(address,address,bytes)")[:4]
                        + encode(["address", "address", "bytes"], [proxy, implementation, inner])
                    ).hex()
                )
            calls.append(
                RestoreCall(
                    f"upgrade {proxy} to {implementation}",
                    admin,
                    data,
                    upgrade=(proxy, implementation),
                )
            )
        elif step.call is not None:
            to = _address(plan, spec, step.call.to, "call target")
            calls.append(
                RestoreCall(
                    f"{step.call.function} on {to}",
                    to,
                    encode_call(step.call.function, _args(plan, spec, step.call.args)),
                )
            )
    for name, contract in sorted(plan.contracts.items()):
        pause = contract.pause
        if contract.chain != chain or pause is None or not pause.check or not pause.unpause:
            continue
        if _is_true(view_call(remote, contract.address, encode_call(pause.check, []))):
            calls.append(
                RestoreCall(
                    f"{pause.unpause} on {name}",
                    contract.address.lower(),
                    encode_call(pause.unpause, []),
                    unpause=name,
                )
            )
    return calls


def multisend(calls: Sequence[RestoreCall]) -> bytes:
    """``multiSend(bytes)`` calldata: each call packed as operation 0, to, value 0, data."""
    packed = b"".join(
        b"\x00" + bytes.fromhex(c.to[2:]) + (0).to_bytes(32, "big")
        + len(body).to_bytes(32, "big") + body
        for c in calls
        for body in (bytes.fromhex(c.data[2:]),)
    )  # fmt: skip
    return keccak(text="multiSend(bytes)")[:4] + encode(["bytes"], [packed])


def simulate(
    *, url: str, chain_id: int, safe: str, calls: Sequence[RestoreCall], plan: Plan
) -> list[str]:
    """Run ``calls`` as the Safe on a fork of the head; what went wrong (empty: all well)."""
    remote = RemoteChain(url)
    try:
        head = int(remote.rpc("eth_blockNumber"), 16)
    finally:
        remote.close()
    fork = Fork.start(url, block=head, chain_id=chain_id)
    problems: list[str] = []
    try:
        for call in calls:
            if not fork.send(safe, call.data, to=call.to).success:
                problems.append(f"{call.label} reverts when the Safe {safe} makes it")
        problems += effects_missing(calls, plan=plan, read=fork.call, storage=fork.storage)
    finally:
        fork.stop()
    return problems


def effects_missing(
    calls: Sequence[RestoreCall], *, plan: Plan, read: Any, storage: Any
) -> list[str]:
    """What the calls should have done and did not: a proxy not on its new implementation,
    a contract still paused."""
    missing: list[str] = []
    for call in calls:
        if call.upgrade is not None:
            proxy, implementation = call.upgrade
            now = _word_address(str(storage(proxy, IMPLEMENTATION_SLOT)))
            if now != implementation:
                missing.append(f"{proxy} runs {now}, not {implementation}")
        if call.unpause is not None:
            contract = plan.contracts[call.unpause]
            check = contract.pause.check if contract.pause else None
            if check and _is_true(read(contract.address, encode_call(check, []))):
                missing.append(f"{call.unpause} is still paused")
    return missing


def gate_fix_verified(
    *, spec: FixSpec, digest: str, reports: Sequence[dict[str, Any]], remote: RemoteChain
) -> Gate:
    """The latest verification of this very fix passed, and every deployment of it on the
    chain has the bytecode that was verified."""
    mine = [r for r in reports if r["fix"]["sha256"] == digest]
    if not mine:
        return Gate("fix verified", False, "this fix was never verified: run breakglass fix verify")
    report = mine[-1]
    if report["verdict"] != "passed":
        return Gate("fix verified", False, f"the latest verification says {report['verdict']}")
    for step in spec.steps:
        if step.deploy is None:
            continue
        verified = report["implementations"].get(step.deploy.name, {}).get("codehash")
        if step.deploy.address is None:
            return Gate("fix verified", False, f"{step.deploy.name} has no live `address` yet")
        code = str(remote.rpc("eth_getCode", [step.deploy.address, "latest"]))
        live = "0x" + keccak(bytes.fromhex(code[2:])).hex()
        if live != verified:
            return Gate(
                "fix verified",
                False,
                f"the code at {step.deploy.address.lower()} is not the "
                f"verified {step.deploy.name} ({live[:18]}… vs {str(verified)[:18]}…)",
            )
    return Gate("fix verified", True, f"verified {report['fix']['sha256'][:12]}, code matches")


def gate_invariants(*, loaded: LoadedPlan, chain: str, remote: RemoteChain) -> Gate:
    """Every invariant of the plan on ``chain`` holds at the head."""
    head = remote.rpc("eth_getBlockByNumber", ["latest", False])
    block = {"number": int(head["number"], 16), "timestamp": int(head["timestamp"], 16)}
    results = plan_invariants(
        loaded, chain=chain, call=lambda to, data: view_call(remote, to, data), block=block
    )
    broken = [name for name, holds in results.items() if holds is not True]
    if broken:
        return Gate("invariants hold", False, f"at block {block['number']}: {'; '.join(broken)}")
    return Gate("invariants hold", True, f"{len(results)} at block {block['number']}")
