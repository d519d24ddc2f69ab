from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from pydantic import Field

from breakglass.detect.events_state import feed_calls, feed_rounds
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Duration


class OracleStaleParams(RuleParams):
    max_age: Duration = Field(
        description="Oldest acceptable updatedAt at the block's timestamp, e.g. 1h: the feed's "
        "heartbeat plus a margin."
    )


class OracleStaleRule(Rule):
    id = "oracle-stale"
    title = "A price feed stopped updating"
    category = "oracle"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "latestRoundData() of a watched Chainlink-style feed reports an updatedAt older than "
        "max_age at the block's timestamp. Protocols that read a stale price lend against, "
        "or liquidate at, a price the market left behind. Reported once until the feed updates."
    )
    recommendation = (
        "Set max_age to the feed's heartbeat plus a margin; pause price-dependent actions."
    )
    needs = Needs.STATE
    Params = OracleStaleParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.max_age = int(cast(OracleStaleParams, setup.params).max_age.total_seconds())
        self.calls = feed_calls(setup.targets)
        self.stale: set[str] = set()

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for feed, round_data in feed_rounds(self.calls, state):
            updated_at = round_data.updated_at
            age = block.header.timestamp - updated_at
            if age <= self.max_age:
                self.stale.discard(feed)
                continue
            if feed in self.stale:
                continue
            self.stale.add(feed)
            yield self.finding(
                block,
                None,
                title=f"{self.target_name(feed)} last updated {age}s ago (max {self.max_age}s)",
                description=self.description,
                addresses=(feed,),
                data={"updated_at": updated_at, "age": age, "round_id": round_data.round_id},
            )
