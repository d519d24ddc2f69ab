from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar, cast

from pydantic import Field

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import event_abi
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleParams, RuleSetup
from breakglass.detect.traces import Signature, selector_of
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address

# OpenZeppelin 4.9.6 TimelockController.
_EVENTS = (
    event_abi(
        "CallScheduled",
        ("bytes32", "id", True),
        ("uint256", "index", True),
        ("address", "target", False),
        ("uint256", "value", False),
        ("bytes", "data", False),
        ("bytes32", "predecessor", False),
        ("uint256", "delay", False),
    ),
    event_abi(
        "CallExecuted",
        ("bytes32", "id", True),
        ("uint256", "index", True),
        ("address", "target", False),
        ("uint256", "value", False),
        ("bytes", "data", False),
    ),
    event_abi("Cancelled", ("bytes32", "id", True)),
)
_VERBS = {"CallScheduled": "scheduled", "CallExecuted": "executed", "Cancelled": "cancelled"}


class TimelockScheduledParams(RuleParams):
    only_targets: list[Address] = Field(
        default_factory=list,
        description="Report only calls to these contracts (empty: calls to any contract).",
    )
    only_selectors: list[Signature] = Field(
        default_factory=list,
        description="Report only calls of these functions, e.g. upgradeTo(address) "
        "(empty: any function).",
    )


class TimelockScheduledRule(Rule):
    id = "timelock-scheduled"
    title = "A call was scheduled, executed or cancelled on a watched timelock"
    category = "governance"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "CallScheduled, CallExecuted or Cancelled (OpenZeppelin TimelockController) on a "
        "watched timelock, with the call's target and selector. The delay is the window to "
        "veto a malicious operation; it is wasted if nobody reads the schedule. only_targets "
        "and only_selectors narrow it to calls on the protocol's contracts or privileged "
        "functions."
    )
    recommendation = (
        "Check every scheduled call against the governance record; cancel an unknown one "
        "before its delay ends."
    )
    events = _EVENTS
    Params = TimelockScheduledParams
    # What a playbook step may use as ${finding.<field>}, with its ABI type: a cancel step
    # takes ${finding.operation_id}.
    finding_fields: ClassVar[Mapping[str, str]] = {
        "operation_id": "bytes32",
        "event": "string",
        "target": "address",
        "selector": "bytes4",
    }
    finding_sources: ClassVar[Mapping[str, str]] = {"operation_id": "id"}  # field: data key

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(TimelockScheduledParams, setup.params)
        self.only_targets = {a.lower() for a in params.only_targets}
        self.only_selectors = {selector_of(s): s for s in params.only_selectors}
        # Cancelled names only the operation id: remember what each id would call.
        self.scheduled: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def _wanted(self, target: str, selector: str) -> bool:
        if self.only_targets and target not in self.only_targets:
            return False
        return not self.only_selectors or selector in self.only_selectors

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = log.args
        operation = "0x" + bytes(args["id"]).hex()
        key = (log.address, operation)
        if log.event == "Cancelled":
            calls = self.scheduled.pop(key, [])
            if calls and not any(self._wanted(t, s) for t, s in calls):
                return
            target = calls[0][0] if calls else None
            selector = calls[0][1] if calls else None
            data = {"event": log.event, "id": operation, "calls": [list(c) for c in calls]}
        else:
            target = str(args["target"]).lower()
            raw = bytes(args["data"])
            selector = "0x" + raw[:4].hex() if len(raw) >= 4 else ""
            if log.event == "CallScheduled":
                self.scheduled.setdefault(key, []).append((target, selector))
            if not self._wanted(target, selector):
                return
            data = {
                "event": log.event,
                "id": operation,
                "index": args["index"],
                "target": target,
                "selector": selector,
                "value": args["value"],
                "data": "0x" + raw.hex(),
            }
            if log.event == "CallScheduled":
                data["delay"] = args["delay"]
        call = f"{selector or 'a call'} on {self.target_name(target)}" if target else "a call"
        if selector in self.only_selectors:
            call = f"{self.only_selectors[selector]} on {self.target_name(target or '')}"
        yield self.finding(
            block,
            log,
            title=f"timelock {self.target_name(log.address)} {_VERBS[log.event]} {call}",
            description=self.description,
            addresses=(log.address, *((target,) if target else ())),
            data=data,
        )
