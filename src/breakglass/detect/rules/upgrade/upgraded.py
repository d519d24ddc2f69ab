from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import UPGRADED
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, RuleSetup
from breakglass.detect.rules.base import EventRule
from breakglass.detect.state import StateCall, StorageRead
from breakglass.ingest.events import BlockAdded

IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC
"""EIP-1967: ``bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)``."""


class UpgradedRule(EventRule):
    id = "upgraded"
    title = "A watched proxy was upgraded"
    category = "upgrade"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "Upgraded (EIP-1967), or a change of the proxy's EIP-1967 implementation slot read at "
        "every block: the proxy now runs new code. The slot check catches upgrades that skip "
        "the event (a proxy or implementation writing the slot directly). An unplanned "
        "upgrade is the fastest way to drain a protocol and usually comes before the first "
        "outflow."
    )
    recommendation = "Compare the implementation with the release; if unknown, pause at once."
    needs = Needs.LOGS | Needs.STATE
    events = (UPGRADED,)
    headline = "{contract} upgraded to implementation {implementation}"

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.slots = {t.address: StorageRead(t.address, IMPLEMENTATION_SLOT) for t in setup.targets}
        self.implementation: dict[str, str] = {}
        # Implementations announced by an Upgraded event, per proxy, in the block being read.
        self.announced: dict[str, tuple[str, str]] = {}

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        self.announced[log.address] = (block.hash, str(log.args["implementation"]).lower())
        return super().on_log(block, log)

    def state_calls(self) -> Iterable[StateCall]:
        return self.slots.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for proxy, read in self.slots.items():
            word = state.get(read)
            if word is None:
                continue
            current = f"0x{word % 2**160:040x}"
            before = self.implementation.get(proxy)
            self.implementation[proxy] = current
            if before is None or before == current:
                continue  # first sight is the baseline
            if self.announced.get(proxy) == (block.hash, current):
                continue  # reported from the event
            yield self.finding(
                block,
                None,
                title=f"{self.target_name(proxy)} implementation changed to {current} "
                "without an Upgraded event",
                description=self.description,
                addresses=(proxy, current),
                data={"implementation": current, "previous": before, "source": "slot"},
            )
