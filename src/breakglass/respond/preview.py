"""What a waiting step would do if approved now, simulated on the chain before anyone sends it.

An approver checks the words (target, function, signer: :mod:`breakglass.respond.approval_view`)
and, here, the effect: the call is run from the signer's address in a simulated next block
(``eth_simulateV1``), followed by the step's verification view, so the approver reads "would
succeed, emits Paused, paused() holds afterwards" or the revert reason before a transaction
exists. Nodes without ``eth_simulateV1`` get a plain ``eth_call`` and ``eth_estimateGas``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eth_utils.crypto import keccak
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.errors import RpcError
from breakglass.errors import BreakglassError, ChainError
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.actions.base import Action, Rpc
from breakglass.respond.actions.contract import ContractAction, revert_reason
from breakglass.respond.actions.safe import SafeAction
from breakglass.respond.approval_view import ApprovalView, approval_view
from breakglass.respond.calls import CallSpecError, Check
from breakglass.respond.safe_review import canonical_type, contract_abi

__all__ = ["Simulation", "StepPreview", "preview_step", "simulate_action"]

Outcome = Literal["would-succeed", "would-revert", "already-done", "no-transaction", "unknown"]

# Events a pause, an unpause or a role change emits in OpenZeppelin's contracts, named even
# when the plan gives no ABI for the target.
_KNOWN_EVENTS = (
    "Paused(address)",
    "Unpaused(address)",
    "RoleGranted(bytes32,address,address)",
    "RoleRevoked(bytes32,address,address)",
    "OwnershipTransferred(address,address)",
    "Transfer(address,address,uint256)",
    "Approval(address,address,uint256)",
    "Upgraded(address)",
)


@dataclass(frozen=True)
class Simulation:
    """The simulated effect of one action; ``text`` says it in one line for people."""

    outcome: Outcome
    text: str
    sender: str | None = None
    block: int | None = None
    gas_used: int | None = None
    events: tuple[str, ...] = ()
    verified: bool | None = None

    @property
    def ok(self) -> bool:
        """Whether approving would do what the step intends (or it is done already)."""
        return self.outcome in ("would-succeed", "already-done", "no-transaction")


@dataclass(frozen=True)
class StepPreview:
    """A waiting step as its approver confirms it: what it asks for and what it would do."""

    view: ApprovalView
    simulation: Simulation


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return value if isinstance(value, int) else None


def _event_names(loaded: LoadedPlan) -> dict[str, str]:
    """topic0 → event name, from the plan's ABI files and the well-known events."""
    names = {"0x" + keccak(text=s).hex(): s.split("(", 1)[0] for s in _KNOWN_EVENTS}
    for contract in loaded.plan.contracts.values():
        for item in contract_abi(loaded, contract):
            if item.get("type") == "event" and isinstance(item.get("name"), str):
                types = ",".join(canonical_type(i) for i in item.get("inputs", []))
                names["0x" + keccak(text=f"{item['name']}({types})").hex()] = item["name"]
    return names


def _events(loaded: LoadedPlan, logs: Any) -> tuple[str, ...]:
    if not isinstance(logs, list):
        return ()
    known = _event_names(loaded) if logs else {}
    found = []
    for log in logs:
        topics = log.get("topics") or [] if isinstance(log, dict) else []
        topic = str(topics[0]).lower() if topics else ""
        found.append(known.get(topic, f"event {topic[:10]}…" if topic else "anonymous event"))
    return tuple(found)


def _revert_text(returned: Any, error: Any) -> str:
    """The ``Error(string)`` reason in a simulated call's return data, else the node's word."""
    if isinstance(returned, str) and returned.startswith("0x08c379a0") and len(returned) >= 138:
        try:
            raw = bytes.fromhex(returned[10:])
            length = int.from_bytes(raw[32:64], "big")
            return raw[64 : 64 + length].decode("utf-8", "replace")
        except ValueError:
            pass
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or "reverted without a reason")


def _verify_text(check: Check | None, returned: Any) -> tuple[bool | None, str]:
    if check is None or not isinstance(returned, str):
        return None, ""
    try:
        holds = check.holds(returned)
    except CallSpecError as exc:
        return None, f"; {exc}"
    return holds, f"; {check.text} {'holds' if holds else 'would still not hold'} afterwards"


async def _already_done(rpc: Rpc, to: str, check: Check | None) -> bool:
    if check is None:
        return False
    try:
        return check.holds(await rpc.request("eth_call", [{"to": to, "data": _hex(check.data)}]))
    except (ChainError, CallSpecError):
        return False  # the simulation below says what is wrong with the call itself


async def _fallback(rpc: Rpc, call: dict[str, str], sender: str) -> Simulation:
    """``eth_call`` and ``eth_estimateGas`` for nodes without ``eth_simulateV1``."""
    try:
        await rpc.request("eth_call", [call, "latest"])
        gas = _int(await rpc.request("eth_estimateGas", [call]))
    except RpcError as exc:
        return Simulation("would-revert", f"would revert: {revert_reason(exc)}", sender=sender)
    except ChainError as exc:
        return Simulation("unknown", f"could not be simulated: {exc}", sender=sender)
    return Simulation(
        "would-succeed", f"would succeed, about {gas:,} gas", sender=sender, gas_used=gas
    )


async def simulate_action(
    loaded: LoadedPlan, action: Action, *, rpc: Rpc, sender: str | None
) -> Simulation:
    """Simulate ``action`` sent by ``sender`` in the chain's next block, then its verification.

    Args:
        loaded: the plan (its ABIs name the events the call would emit).
        action: the built action; one that sends no transaction is not simulated.
        rpc: endpoints of the action's chain.
        sender: the signer's (or Safe's) address; None when it cannot be known here.

    Returns:
        The outcome; a node that cannot be reached makes it ``unknown``, never an error.
    """
    if not isinstance(action, ContractAction | SafeAction):
        return Simulation("no-transaction", f"sends no transaction: {action.summary}")
    if sender is None:
        return Simulation("unknown", "could not be simulated: the signer's address is not known")
    if await _already_done(rpc, action.to, action.done_when):
        text = f"already done ({action.done_when.text if action.done_when else ''} holds): skips"
        return Simulation("already-done", text, sender=sender)
    call = {"from": sender, "to": action.to, "data": _hex(action.data)}
    calls: list[dict[str, str]] = [call]
    if action.verify is not None:
        calls.append({"to": action.to, "data": _hex(action.verify.data)})
    request = {"blockStateCalls": [{"calls": calls}], "validation": False}
    try:
        blocks = await rpc.request("eth_simulateV1", [request, "latest"])
        results = blocks[0]["calls"]
        block = _int(blocks[0].get("number"))
    except (ChainError, KeyError, IndexError, TypeError):
        return await _fallback(rpc, call, sender)
    first = results[0]
    if _int(first.get("status")) != 1:
        text = f"would revert: {_revert_text(first.get('returnData'), first.get('error'))}"
        return Simulation("would-revert", text, sender=sender, block=block)
    gas = _int(first.get("gasUsed"))
    events = _events(loaded, first.get("logs"))
    verified, after = (None, "")
    if action.verify is not None and len(results) > 1:
        verified, after = _verify_text(action.verify, results[1].get("returnData"))
    emits = f", emits {', '.join(events)}" if events else ", emits no event"
    text = f"would succeed{emits}, {gas or 0:,} gas{after}"
    outcome: Outcome = "would-revert" if verified is False else "would-succeed"
    return Simulation(outcome, text, sender, block, gas, events, verified)


def _sender(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    action: Action,
    environ: Mapping[str, str] | None,
) -> str | None:
    """Who would send ``action``: the Safe, the signer's address in the plan, else its key's."""
    if isinstance(action, SafeAction):
        return action.safe
    if not isinstance(action, ContractAction):
        return None
    config = loaded.plan.signers.get(action.signer)
    address = getattr(config, "address", None)
    if isinstance(address, str):
        return address
    from breakglass.respond.env import LiveEnv  # noqa: PLC0415 - loads web3

    try:
        return LiveEnv(loaded, sessions, environ=environ).signer_account(action.signer).address
    except BreakglassError:
        return None


async def _simulate(loaded: LoadedPlan, action: Action, sender: str | None) -> Simulation:
    from breakglass.chain.endpoints import plan_endpoints  # noqa: PLC0415
    from breakglass.chain.pool import EndpointPool  # noqa: PLC0415

    chain = action.chain
    config = loaded.plan.chains.get(chain) if chain else None
    if chain is None or config is None:
        return await simulate_action(loaded, action, rpc=_NoRpc(), sender=None)
    try:
        pool = EndpointPool(plan_endpoints(config, prefer_ws=False, name=chain), chain=chain)
    except BreakglassError as exc:
        return Simulation("unknown", f"could not be simulated: {exc}", sender=sender)
    try:
        return await simulate_action(loaded, action, rpc=pool, sender=sender)
    finally:
        await pool.aclose()


class _NoRpc:
    """For actions that send nothing: never asked."""

    async def request(self, method: str, params: Any = ()) -> Any:
        raise ChainError("no chain")

    async def batch(self, calls: Any) -> list[Any]:
        raise ChainError("no chain")


def preview_step(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    *,
    step_id: int,
    environ: Mapping[str, str] | None = None,
) -> StepPreview | None:
    """What step ``step_id`` asks approval for and what it would do if approved now; None
    when it is not waiting for an approval. Blocks (runs its own event loop): call it from
    a worker thread."""
    view = approval_view(loaded, sessions, step_id=step_id)
    if view is None:
        return None
    action = view.built
    if view.action is None or action is None:
        return StepPreview(view, Simulation("unknown", view.problem or "nothing to simulate"))
    sender = _sender(loaded, sessions, action, environ)
    return StepPreview(view, asyncio.run(_simulate(loaded, action, sender)))
