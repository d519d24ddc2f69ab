from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from pydantic import Field

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.ingest.events import BlockAdded


class FailedTxSpikeParams(RuleParams):
    blocks: int = Field(default=20, ge=1, description="Length of the sliding window, in blocks.")
    threshold: int = Field(
        default=5,
        ge=0,
        description="Failed transactions to watched contracts tolerated within the window; "
        "one more is reported.",
    )


class FailedTxSpikeRule(Rule):
    id = "failed-tx-spike"
    title = "Spike of failed transactions to watched contracts"
    category = "tx"
    severity = Severity.MEDIUM
    confidence = Confidence.LOW
    description = (
        "More transactions to watched contracts failed (receipt status 0) within the window "
        "than the threshold allows. Attackers probe a contract with transactions that revert "
        "before one succeeds; a sudden run of failures is often the warning."
    )
    recommendation = (
        "Look at who sent the failing transactions and which functions they called; set the "
        "threshold above the failures that honest users cause on a busy day."
    )
    needs = Needs.TRANSACTIONS | Needs.RECEIPTS
    Params = FailedTxSpikeParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(FailedTxSpikeParams, setup.params)
        self.blocks = params.blocks
        self.threshold = params.threshold
        # (block number, block hash, tx hash, sender) of failures inside the window.
        self.failures: deque[tuple[int, str, str, str]] = deque()
        self.alerted_at: int | None = None

    def tx_keys(self) -> Iterator[tuple[str | None, str | None]]:
        for target in self.setup.targets:
            yield target.address, None

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        if receipt is None or int(str(receipt.get("status", "0x1")), 16) != 0:
            return
        tx_hash = str(tx["hash"]).lower()
        self._forget(block)
        if any(entry[2] == tx_hash for entry in self.failures):
            return  # the same block evaluated again
        self.failures.append((block.number, block.hash, tx_hash, str(tx.get("from", "")).lower()))
        if len(self.failures) <= self.threshold:
            return
        if self.alerted_at is not None and block.number - self.alerted_at < self.blocks:
            return  # one alert per window, not one per further failure
        self.alerted_at = block.number
        senders = sorted({entry[3] for entry in self.failures})
        contract = self.target_name(str(tx.get("to", "")).lower())
        yield self.finding(
            block,
            None,
            title=f"{len(self.failures)} failed transactions to {contract} in {self.blocks} blocks",
            description=self.description,
            addresses=senders,
            data={
                "failed": len(self.failures),
                "blocks": self.blocks,
                "senders": senders,
                "transactions": [entry[2] for entry in self.failures],
            },
            tx_hash=tx_hash,
        )

    def _forget(self, block: BlockAdded) -> None:
        """Drop failures out of the window, and those of blocks a reorg replaced."""
        oldest = block.number - self.blocks + 1
        self.failures = deque(
            entry
            for entry in self.failures
            if oldest <= entry[0] < block.number or entry[:2] == (block.number, block.hash)
        )
        if self.alerted_at is not None and self.alerted_at > block.number:
            self.alerted_at = None
