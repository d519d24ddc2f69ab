from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import event_abi
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleSetup
from breakglass.ingest.events import BlockAdded

# OpenZeppelin 4.9.6 IGovernor and IGovernorTimelock; Compound's GovernorBravo emits the same
# signatures, so one topic0 each covers both.
_EVENTS = (
    event_abi(
        "ProposalCreated",
        ("uint256", "proposalId", False),
        ("address", "proposer", False),
        ("address[]", "targets", False),
        ("uint256[]", "values", False),
        ("string[]", "signatures", False),
        ("bytes[]", "calldatas", False),
        ("uint256", "voteStart", False),
        ("uint256", "voteEnd", False),
        ("string", "description", False),
    ),
    event_abi("ProposalQueued", ("uint256", "proposalId", False), ("uint256", "eta", False)),
    event_abi("ProposalExecuted", ("uint256", "proposalId", False)),
    event_abi("ProposalCanceled", ("uint256", "proposalId", False)),
)
_VERBS = {
    "ProposalCreated": "created",
    "ProposalQueued": "queued",
    "ProposalExecuted": "executed",
    "ProposalCanceled": "cancelled",
}
_DESCRIPTION_CHARS = 500


def _selector(calldata: bytes, signature: str) -> str:
    # Bravo-style proposals may carry the signature apart from the arguments.
    if signature:
        return signature
    return "0x" + calldata[:4].hex() if len(calldata) >= 4 else ""


class GovernanceProposalRule(Rule):
    id = "governance-proposal"
    title = "A proposal was created, queued, executed or cancelled on a watched governor"
    category = "governance"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "ProposalCreated, ProposalQueued, ProposalExecuted or ProposalCanceled on a watched "
        "OpenZeppelin Governor (or GovernorBravo, which emits the same events), with the "
        "proposal's targets and functions. Governance attacks borrow or buy votes and pass a "
        "proposal that hands over the treasury; each stage is a chance to react."
    )
    recommendation = (
        "Read every new proposal's calls; veto or cancel through the timelock's guardian "
        "before an unknown one executes."
    )
    events = _EVENTS

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        # Later events name only the proposal id: remember what each proposal calls.
        self.calls: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = log.args
        proposal = int(args["proposalId"])
        key = (log.address, proposal)
        data: dict[str, Any] = {"event": log.event, "proposalId": proposal}
        if log.event == "ProposalCreated":
            calls = [
                {"target": str(t).lower(), "value": v, "function": _selector(bytes(c), s)}
                for t, v, s, c in zip(
                    args["targets"],
                    args["values"],
                    args["signatures"],
                    args["calldatas"],
                    strict=False,
                )
            ]
            self.calls[key] = calls
            data |= {
                "proposer": str(args["proposer"]).lower(),
                "voteStart": args["voteStart"],
                "voteEnd": args["voteEnd"],
                "description": str(args["description"])[:_DESCRIPTION_CHARS],
            }
        else:
            calls = self.calls.get(key, [])
            if log.event == "ProposalQueued":
                data["eta"] = args["eta"]
            else:
                self.calls.pop(key, None)
        data["calls"] = calls
        governor = self.target_name(log.address)
        summary = ", ".join(
            f"{c['function'] or 'call'} on {self.target_name(c['target'])}" for c in calls
        )
        title = f"governor {governor}: proposal {proposal} {_VERBS[log.event]}"
        yield self.finding(
            block,
            log,
            title=f"{title} ({summary})" if summary else title,
            description=self.description,
            addresses=(log.address, *(c["target"] for c in calls)),
            data=data,
        )
