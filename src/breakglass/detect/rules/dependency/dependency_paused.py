from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import PAUSED, UNPAUSED
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded


class DependencyPausedRule(Rule):
    id = "dependency-paused"
    title = "An upstream contract the protocol relies on is paused"
    category = "dependency"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "An upstream contract (a token, bridge or lending market the protocol calls) emitted "
        "Paused or its paused() view turned true. Calls into it now revert: withdrawals, "
        "liquidations or swaps that route through it stop working. Reported once per pause."
    )
    recommendation = "Check the upstream team's announcement; pause the paths that depend on it."
    needs = Needs.LOGS | Needs.STATE
    events = (PAUSED, UNPAUSED)

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.calls = {
            t.address: StateCall(t.address, "paused()", returns=("bool",)) for t in setup.targets
        }
        self.paused: set[str] = set()

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        if log.event == "Unpaused":
            self.paused.discard(log.address)  # re-arms contracts without a paused() view
            return
        if log.address in self.paused:
            return
        self.paused.add(log.address)
        yield self._finding(block, log, log.address, by=log.args["account"])

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for address, call in self.calls.items():
            paused = state.get(call)
            if paused is None:
                continue
            if not paused:
                self.paused.discard(address)
            elif address not in self.paused:
                self.paused.add(address)
                yield self._finding(block, None, address, by=None)

    def _finding(
        self, block: BlockAdded, log: DecodedLog | None, address: str, *, by: str | None
    ) -> Finding:
        who = f" by {by}" if by else ""
        return self.finding(
            block,
            log,
            title=f"upstream {self.target_name(address)} is paused{who}",
            description=self.description,
            addresses=(address, by) if by else (address,),
            data={"contract": address, "account": by},
        )
