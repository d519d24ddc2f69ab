from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, cast

from pydantic import Field

from breakglass.detect.events_state import feed_calls, feed_rounds
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Duration


class SequencerDownParams(RuleParams):
    grace_period: Duration = Field(
        default=timedelta(hours=1),
        description="How long after the sequencer is back prices are still untrusted "
        "(Chainlink suggests 1h).",
    )


class SequencerDownRule(Rule):
    id = "sequencer-down"
    title = "The L2 sequencer is down or just came back"
    category = "dependency"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "The Chainlink L2 sequencer uptime feed answers 1 (down), or answered 0 (up) for less "
        "than the grace period. While the sequencer is down only L1 force-included "
        "transactions land, and right after it returns prices are stale: liquidations and "
        "oracle reads are unfair. Reported once per outage and once per grace period."
    )
    recommendation = "Pause liquidations and price-dependent actions until the grace period ends."
    needs = Needs.STATE
    Params = SequencerDownParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.grace = int(cast(SequencerDownParams, setup.params).grace_period.total_seconds())
        self.calls = feed_calls(setup.targets)
        self.status: dict[str, str] = {}

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for feed, round_data in feed_rounds(self.calls, state):
            answer, started_at = round_data.answer, round_data.started_at
            since = block.header.timestamp - started_at
            if answer == 1:
                status = "down"
            elif since < self.grace:
                status = "recovering"
            else:
                status = "up"
            before, self.status[feed] = self.status.get(feed, "up"), status
            if status in ("up", before):
                continue
            title = (
                f"{self.target_name(feed)}: sequencer down for {since}s"
                if status == "down"
                else f"{self.target_name(feed)}: sequencer up only {since}s ago "
                f"(grace {self.grace}s)"
            )
            yield self.finding(
                block,
                None,
                title=title,
                description=self.description,
                addresses=(feed,),
                data={"status": status, "since": started_at, "seconds": since},
            )
