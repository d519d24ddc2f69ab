"""``breakglass restore``: propose the restoring Safe transaction, collect approvals and
signatures, and execute it only when every gate holds; the incident moves to ``eradicated``
when the fix is live and to ``recovered`` when every contract runs again.

Every gate, approval, proposal and execution is a timeline event of the incident.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from breakglass.errors import PlanError
from breakglass.recovery.fix_service import fix_chain, fork_url
from breakglass.recovery.fixspec import FixError, FixSpec
from breakglass.recovery.fork import RemoteChain
from breakglass.recovery.restore import (
    Gate,
    RestoreCall,
    effects_missing,
    multisend,
    restore_calls,
    simulate,
    view_call,
)
from breakglass.recovery.restore_gates import (
    PROPOSAL_EVENT,
    approve_restore,
    events_of,
    record,
    restore_config,
    restore_gates,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.plan.loader import LoadedPlan

__all__ = [
    "RestoreOutcome",
    "RestoreProposal",
    "approve_restore",
    "plan_restore",
    "restore_gates",
    "run_restore",
    "sign_restore",
]

_EXECUTION_FAILURE = "0x" + keccak(text="ExecutionFailure(bytes32,uint256)").hex()


def _call_json(call: RestoreCall) -> dict[str, Any]:
    return {
        "label": call.label,
        "to": call.to,
        "data": call.data,
        "upgrade": list(call.upgrade) if call.upgrade else None,
        "unpause": call.unpause,
    }


def _call_from(data: dict[str, Any]) -> RestoreCall:
    upgrade = data.get("upgrade")
    return RestoreCall(
        data["label"],
        data["to"],
        data["data"],
        tuple(upgrade) if upgrade else None,
        data.get("unpause"),
    )


@dataclass(slots=True)
class RestoreProposal:
    proposal_id: int
    safe_tx_hash: str
    calls: list[RestoreCall]
    service_json: dict[str, Any]


def plan_restore(
    sessions: sessionmaker[Session],
    *,
    loaded: LoadedPlan,
    incident_id: int,
    spec: FixSpec,
    digest: str,
    chain: str | None = None,
) -> RestoreProposal:
    """Build, simulate and store (gated) the restoring Safe transaction.

    Raises:
        FixError: nothing to restore, no MultiSendCallOnly, or the simulation fails.
        PlanError: no ``restore`` section, or no Safe for it.
    """
    from breakglass.incidents import get_incident  # noqa: PLC0415
    from breakglass.respond.safes import (  # noqa: PLC0415
        check_operation,
        mark_proposal,
        save_proposal,
    )
    from breakglass.respond.signers.safe import SafeAccount, to_service_json  # noqa: PLC0415

    plan = loaded.plan
    restore, safe = restore_config(plan)
    with sessions() as session:
        chains = list(get_incident(session, incident_id).chains)
    name = fix_chain(plan, spec, chain=chain or safe.chain, incident_chains=chains)
    url = fork_url(plan, name)
    remote = RemoteChain(url)
    try:
        calls = restore_calls(plan=plan, spec=spec, chain=name, remote=remote)
        if str(remote.rpc("eth_getCode", [restore.multisend, "latest"])) in ("0x", ""):
            raise FixError(f"no MultiSendCallOnly at {restore.multisend} (restore.multisend)")
    finally:
        remote.close()
    if not calls:
        raise FixError("nothing to restore: the fix has no upgrade or call and nothing is paused")
    account = SafeAccount(safe.address, url)
    problems = simulate(
        url=url, chain_id=account.chain_id, safe=safe.address, calls=calls, plan=plan
    )
    if problems:
        raise FixError("the restoring transaction fails in simulation: " + "; ".join(problems))
    tx = account.build(restore.multisend, multisend(calls), operation=1)
    check_operation(tx, delegatecall_allowed=safe.delegatecall_allowed, safe_name=restore.safe)
    meta = {"restore": incident_id, "fix": digest, "calls": [_call_json(c) for c in calls]}
    proposal_id = save_proposal(
        sessions, chain=name, tx=tx, threshold=account.threshold(), signatures={}, meta=meta
    )
    # Gated: `safe sign` refuses it, so only `restore run` executes it, after the gates.
    mark_proposal(sessions, proposal_id, "gated")
    safe_tx_hash = "0x" + tx.safe_tx_hash.hex()
    with sessions.begin() as session:
        record(
            session,
            incident_id,
            f"Restore proposed to Safe {safe.address} as proposal {proposal_id}: "
            + "; ".join(c.label for c in calls),
            kind=PROPOSAL_EVENT,
            proposal=proposal_id,
            fix=digest,
            safe_tx_hash=safe_tx_hash,
        )
    return RestoreProposal(
        proposal_id, safe_tx_hash, calls, to_service_json(tx, {}, sender=tx.safe)
    )


def sign_restore(
    sessions: sessionmaker[Session], *, loaded: LoadedPlan, incident_id: int, signer: str
) -> tuple[int, int, int]:
    """Add key signer ``signer``'s signature to the incident's restore proposal (it must own
    the Safe): (proposal id, signatures, threshold)."""
    from breakglass.respond.safes import (  # noqa: PLC0415
        check_operation,
        load_proposal,
        save_proposal,
    )
    from breakglass.respond.signers.local import load_local_signer  # noqa: PLC0415
    from breakglass.respond.signers.safe import SafeAccount, sign_safe_tx  # noqa: PLC0415

    proposal_id = _proposal_id(sessions, incident_id)
    view = load_proposal(sessions, proposal_id)
    restore, safe = restore_config(loaded.plan)
    owners = {
        o.lower() for o in SafeAccount(safe.address, fork_url(loaded.plan, view.chain)).owners()
    }
    local = load_local_signer(loaded.plan, signer, base_dir=loaded.base_dir)
    if local.address.lower() not in owners:
        raise PlanError(
            f"signer {signer!r} ({local.address}) is not an owner of Safe {safe.address}"
        )
    check_operation(view.tx, delegatecall_allowed=safe.delegatecall_allowed, safe_name=restore.safe)
    signature = sign_safe_tx(view.tx, local.account)
    save_proposal(
        sessions,
        chain=view.chain,
        tx=view.tx,
        threshold=view.threshold,
        signatures={local.address: signature},
        meta=view.meta,
    )
    view = load_proposal(sessions, proposal_id)
    return proposal_id, len(view.signatures), view.threshold


def _proposal_id(sessions: sessionmaker[Session], incident_id: int) -> int:
    with sessions() as session:
        proposals = events_of(session, incident_id, PROPOSAL_EVENT)
    if not proposals:
        raise FixError(f"incident #{incident_id} has no restore proposal: run restore plan")
    return int(proposals[-1]["proposal"])


@dataclass(slots=True)
class RestoreOutcome:
    gates: list[Gate]
    proposal_id: int | None = None
    signatures: tuple[int, int] = (0, 0)
    tx_hash: str | None = None
    status: str | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(not g.ok for g in self.gates)


def _send(remote: RemoteChain, account: Any, chain_id: int, to: str, data: bytes) -> dict[str, Any]:
    sender = str(account.address)
    tx = {
        "to": to, "data": "0x" + data.hex(), "value": 0, "gas": 3_000_000, "chainId": chain_id,
        "nonce": int(remote.rpc("eth_getTransactionCount", [sender, "pending"]), 16),
        "type": 2,
        "maxFeePerGas": int(remote.rpc("eth_gasPrice"), 16) * 2,
        "maxPriorityFeePerGas": int(remote.rpc("eth_maxPriorityFeePerGas"), 16),
    }  # fmt: skip
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = str(remote.rpc("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
    for _ in range(600):
        receipt = remote.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.1)
    raise FixError(f"the restoring transaction {tx_hash} was not mined in a minute")


def run_restore(
    sessions: sessionmaker[Session],
    *,
    loaded: LoadedPlan,
    incident_id: int,
    spec: FixSpec,
    digest: str,
    executor: str,
) -> RestoreOutcome:
    """Execute the incident's restore proposal if every gate holds and the Safe's owners have
    signed; then move the incident to ``eradicated`` and ``recovered`` as the chain shows.

    Raises:
        FixError: no proposal, a proposal for another fix, or the execution failed.
    """
    from breakglass.incidents import get_incident, transition  # noqa: PLC0415
    from breakglass.respond.safes import load_proposal, mark_proposal  # noqa: PLC0415
    from breakglass.respond.signers.local import load_local_signer  # noqa: PLC0415
    from breakglass.respond.signers.safe import SafeAccount  # noqa: PLC0415

    plan = loaded.plan
    proposal_id = _proposal_id(sessions, incident_id)
    view = load_proposal(sessions, proposal_id)
    if view.meta.get("fix") != digest:
        raise FixError(f"restore proposal {proposal_id} was built for another fix; plan again")
    outcome = RestoreOutcome(
        restore_gates(sessions, loaded=loaded, incident_id=incident_id, spec=spec,
                      digest=digest, chain=view.chain),
        proposal_id, (len(view.signatures), view.threshold),
    )  # fmt: skip
    if outcome.blocked or not view.ready:
        return outcome
    url = fork_url(plan, view.chain)
    account = SafeAccount(view.tx.safe, url)
    local = load_local_signer(plan, executor, base_dir=loaded.base_dir)
    remote = RemoteChain(url)
    calls = [_call_from(c) for c in view.meta.get("calls", [])]
    try:
        receipt = _send(
            remote,
            local.account,
            account.chain_id,
            view.tx.safe,
            account.exec_calldata(view.tx, view.signatures),
        )
        outcome.tx_hash = str(receipt["transactionHash"])
        failure = _EXECUTION_FAILURE
        failed = receipt["status"] != "0x1" or any(
            log["topics"] and log["topics"][0] == failure for log in receipt["logs"]
        )
        outcome.missing = effects_missing(
            calls, plan=plan,
            read=lambda to, data: view_call(remote, to, data),
            storage=lambda a, slot: remote.rpc("eth_getStorageAt", [a, hex(slot), "latest"]),
        )  # fmt: skip
    finally:
        remote.close()
    mark_proposal(sessions, proposal_id, "failed" if failed else "executed", outcome.tx_hash)
    with sessions.begin() as session:
        record(
            session,
            incident_id,
            f"Restore executed in {outcome.tx_hash}"
            + (f"; not done: {'; '.join(outcome.missing)}" if outcome.missing else ""),
            kind="restore-executed",
            tx=outcome.tx_hash,
            missing=outcome.missing,
        )
        if failed:
            raise FixError(f"the Safe did not execute the restore ({outcome.tx_hash})")
        fix_live = not any("runs" in m for m in outcome.missing)
        incident = get_incident(session, incident_id)
        if fix_live and incident.status == "contained":
            transition(
                session,
                incident_id,
                "eradicated",
                actor="breakglass",
                note=f"fix live in {outcome.tx_hash}",
            )
        if not outcome.missing and get_incident(session, incident_id).status == "eradicated":
            transition(
                session,
                incident_id,
                "recovered",
                actor="breakglass",
                note=f"operations restored in {outcome.tx_hash}",
            )
        outcome.status = get_incident(session, incident_id).status
    return outcome
