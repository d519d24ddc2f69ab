"""A call made by a Safe: propose it, sign it with the owner keys held here, and execute it
once the threshold is met; otherwise keep it for ``breakglass safe sign`` on other machines."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from breakglass.errors import BreakglassError, ChainError
from breakglass.respond.actions.base import Action, ActionEnv, Outcome, Record, StepFailed
from breakglass.respond.actions.contract import check_holds, simulate
from breakglass.respond.calls import Check
from breakglass.respond.signers.local import LocalSigner

if TYPE_CHECKING:
    from breakglass.respond.safes import ProposalView
    from breakglass.respond.signers.safe import SafeAccount

__all__ = ["SafeAction", "execute_proposal"]

_log = structlog.get_logger("breakglass.respond")


@dataclass
class SafeAction(Action):
    kind: str
    summary: str
    chain: str
    mitigation: str | None
    safe: str
    to: str
    data: bytes
    local_owners: list[str]
    done_when: Check | None
    verify: Check | None

    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        rpc = env.rpc(self.chain)
        if await simulate(rpc, self.to, self.data, self.safe, self.done_when):
            record("precheck", status="skipped")
            return Outcome("skipped", "already done")
        record("simulate", ok=True, as_safe=self.safe)
        if env.dry_run:
            return await self._as_safe_on_fork(env, record)
        # safe-eth-py takes a second to import: only Safe steps pay for it.
        from breakglass.respond.safes import load_proposal, save_proposal  # noqa: PLC0415
        from breakglass.respond.signers.safe import sign_safe_tx  # noqa: PLC0415

        account = env.safe_account(self.chain, self.safe)
        try:
            tx = await asyncio.to_thread(account.build, self.to, self.data)
            threshold, owners = await asyncio.to_thread(
                lambda: (account.threshold(), account.owners())
            )
        except ChainError as exc:
            raise StepFailed("propose", str(exc)) from None
        signatures = {s.address: sign_safe_tx(tx, s.account) for s in self._signers(env, owners)}
        meta = {"target": self.to, "verify": self.verify.text if self.verify else None}
        proposal_id = save_proposal(
            env.proposals(),
            chain=self.chain,
            tx=tx,
            threshold=threshold,
            signatures=signatures,
            meta=meta,
            step_id=await record.step_id(),
        )
        record(
            "propose",
            proposal=proposal_id,
            safe_tx_hash="0x" + tx.safe_tx_hash.hex(),
            signatures=len(signatures),
            threshold=threshold,
        )
        view = load_proposal(env.proposals(), proposal_id)
        if not view.ready:
            record("waiting", status="awaiting-signatures", proposal=proposal_id)
            return Outcome(
                "waiting",
                f"Safe proposal {proposal_id} has {len(view.signatures)} of {threshold} "
                f"signatures; owners sign with `breakglass safe sign {proposal_id}`",
            )
        executor = self._signers(env, owners)[0]
        return await execute_proposal(env, record, view, account, executor.name, self.verify)

    def _signers(self, env: ActionEnv, owners: list[str]) -> list[LocalSigner]:
        found: list[LocalSigner] = []
        owner_set = {o.lower() for o in owners}
        for name in self.local_owners:
            try:
                signer = env.local_signer(name)
            except BreakglassError as exc:
                _log.warning("respond.safe_owner_unavailable", signer=name, error=str(exc))
                continue
            if signer.address.lower() in owner_set:
                found.append(signer)
            else:
                _log.warning("respond.safe_signer_not_owner", signer=name, safe=self.safe)
        return found

    async def _as_safe_on_fork(self, env: ActionEnv, record: Record) -> Outcome:
        sender = env.impersonated(self.chain, self.safe)
        try:
            tx_hash = await sender.send(self.to, self.data)
            receipt = await sender.wait(tx_hash, timeout=env.receipt_timeout)
        except ChainError as exc:
            raise StepFailed("broadcast", str(exc)) from None
        record("receipt", tx_hash=tx_hash, note="executed as the Safe on the fork")
        if self.verify is not None and not await check_holds(
            env.rpc(self.chain), self.to, self.verify
        ):
            raise StepFailed("verify", f"{self.verify.text} does not hold")
        return Outcome(
            "done", "the Safe's call works on the fork", tx_hash=receipt.get("transactionHash")
        )


async def execute_proposal(
    env: ActionEnv,
    record: Record,
    view: ProposalView,
    account: SafeAccount,
    executor: str,
    verify: Check | None,
) -> Outcome:
    """Send ``execTransaction`` for a proposal with enough signatures, then verify.

    Raises:
        StepFailed: the execution would revert, was not mined, or did not take effect.
    """
    from breakglass.respond.safes import mark_proposal  # noqa: PLC0415

    calldata = account.exec_calldata(view.tx, view.signatures)
    sender = env.transactor(view.chain, executor)
    rpc = env.rpc(view.chain)
    await simulate(rpc, view.tx.safe, calldata, sender.address, None)
    try:
        tx_hash = await sender.send(view.tx.safe, calldata)
        record("broadcast", tx_hash=tx_hash, status="sent", proposal=view.id)
        receipt = await sender.wait(tx_hash, timeout=env.receipt_timeout)
    except ChainError as exc:
        mark_proposal(env.proposals(), view.id, "failed")
        raise StepFailed("execute", str(exc)) from None
    mined = str(receipt.get("transactionHash", tx_hash))
    mark_proposal(env.proposals(), view.id, "executed", mined)
    record("receipt", tx_hash=mined, proposal=view.id)
    target = str(view.meta.get("target") or view.tx.to)
    if verify is not None:
        if not await check_holds(rpc, target, verify):
            raise StepFailed("verify", f"{verify.text} does not hold after {mined}")
        record("verify", check=verify.text, holds=True)
    return Outcome("done", f"Safe proposal {view.id} executed", tx_hash=mined)
