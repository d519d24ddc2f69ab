"""Transactions from a key signer to a contract: pause, unpause, call and revoke-role.

They share one path: precheck and simulation in one round trip, broadcast, receipt, verify.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from breakglass.chain.errors import RpcError
from breakglass.errors import BreakglassError, ChainError
from breakglass.respond.actions.base import Action, ActionEnv, Outcome, Record, Rpc, StepFailed
from breakglass.respond.calls import CallSpecError, Check

__all__ = ["ContractAction", "check_holds", "revert_reason", "simulate"]


def revert_reason(exc: RpcError) -> str:
    """The revert reason of a failed ``eth_call``, decoded when it is an ``Error(string)``."""
    data = exc.data if isinstance(exc.data, str) else None
    if data and data.startswith("0x08c379a0") and len(data) >= 138:
        try:
            raw = bytes.fromhex(data[10:])
            length = int.from_bytes(raw[32:64], "big")
            return raw[64 : 64 + length].decode("utf-8", "replace")
        except ValueError:
            pass
    return exc.message


def _call(to: str, data: bytes, sender: str | None = None) -> tuple[str, list[Any]]:
    tx: dict[str, str] = {"to": to, "data": "0x" + data.hex()}
    if sender is not None:
        tx["from"] = sender
    return ("eth_call", [tx, "latest"])


async def check_holds(rpc: Rpc, to: str, check: Check) -> bool:
    """Whether ``check`` holds on ``to`` at the latest block.

    Raises:
        StepFailed: the view reverted or returned something other than a bool.
    """
    try:
        return check.holds(await rpc.request(*_call(to, check.data)))
    except RpcError as exc:
        raise StepFailed("verify", f"{check.text} reverted: {revert_reason(exc)}") from None
    except CallSpecError as exc:
        raise StepFailed("verify", str(exc)) from None


async def simulate(rpc: Rpc, to: str, data: bytes, sender: str, precheck: Check | None) -> bool:
    """Precheck and simulation in one batch; True when the precheck says it is already done.

    Raises:
        StepFailed: the simulation reverted (with its reason) or the precheck view failed.
    """
    calls = [_call(to, data, sender)]
    if precheck is not None:
        calls.insert(0, _call(to, precheck.data))
    try:
        results = await rpc.batch(calls)
    except RpcError:
        # One of them reverted; ask separately to say which.
        results = list(
            await asyncio.gather(*(rpc.request(*c) for c in calls), return_exceptions=True)
        )
    except ChainError as exc:
        raise StepFailed("simulate", str(exc)) from None
    done = False
    if precheck is not None:
        first = results.pop(0)
        if isinstance(first, RpcError):
            raise StepFailed("precheck", f"{precheck.text} reverted: {revert_reason(first)}")
        if isinstance(first, BaseException):
            raise StepFailed("precheck", str(first))
        try:
            done = precheck.holds(first)
        except CallSpecError as exc:
            raise StepFailed("precheck", str(exc)) from None
    if done:
        return True
    outcome = results[0]
    if isinstance(outcome, RpcError):
        raise StepFailed("simulate", f"the call would revert: {revert_reason(outcome)}")
    if isinstance(outcome, BaseException):
        raise StepFailed("simulate", str(outcome))
    return False


@dataclass
class ContractAction(Action):
    """``signer`` sends ``data`` to ``to``; ``done_when`` skips it, ``verify`` confirms it."""

    kind: str
    summary: str
    chain: str
    mitigation: str | None
    to: str
    signer: str
    data: bytes
    done_when: Check | None
    verify: Check | None

    async def arm(self, env: ActionEnv) -> None:
        await env.transactor(self.chain, self.signer).arm(self.to, self.data)

    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        rpc = env.rpc(self.chain)
        try:
            sender = env.transactor(self.chain, self.signer)
        except BreakglassError as exc:
            raise StepFailed("signer", str(exc)) from None
        if await simulate(rpc, self.to, self.data, sender.address, self.done_when):
            record("precheck", status="skipped", note=f"already done: {self.done_when_text}")
            return Outcome("skipped", f"already done ({self.done_when_text})")
        record("simulate", ok=True)
        try:
            tx_hash = await sender.send(self.to, self.data)
        except ChainError as exc:
            raise StepFailed("broadcast", str(exc)) from None
        record("broadcast", tx_hash=tx_hash, status="sent")
        try:
            receipt = await sender.wait(tx_hash, timeout=env.receipt_timeout)
        except ChainError as exc:
            raise StepFailed("receipt", str(exc)) from None
        mined_hash = str(receipt.get("transactionHash", tx_hash))
        record("receipt", tx_hash=mined_hash, block=_int(receipt.get("blockNumber")))
        if self.verify is not None:
            if not await check_holds(rpc, self.to, self.verify):
                raise StepFailed("verify", f"{self.verify.text} does not hold after {mined_hash}")
            record("verify", check=self.verify.text, holds=True)
        return Outcome("done", tx_hash=mined_hash)

    @property
    def done_when_text(self) -> str:
        return self.done_when.text if self.done_when is not None else ""


def _int(value: Any) -> int | None:
    if isinstance(value, str):
        return int(value, 16)
    return value if isinstance(value, int) else None
