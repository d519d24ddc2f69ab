"""ABI entries of the state, oracle and governance rules: events and view return shapes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from breakglass.detect.events import event_abi
from breakglass.detect.rule import Target
from breakglass.detect.state import StateCall

__all__ = ["SAFE_CONFIG_EVENTS", "RoundData", "feed_calls", "feed_rounds", "latest_round_data"]


class RoundData(NamedTuple):
    """What Chainlink's AggregatorV3Interface ``latestRoundData()`` returns."""

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int

    @classmethod
    def read(cls, value: Any) -> RoundData | None:
        """The round from a :class:`StateCall` result (``None`` when the call failed)."""
        return None if value is None else cls(*value)


def latest_round_data(feed: str) -> StateCall:
    return StateCall(
        feed, "latestRoundData()", returns=("uint80", "int256", "uint256", "uint256", "uint80")
    )


def feed_calls(targets: Iterable[Target]) -> dict[str, StateCall]:
    """``latestRoundData()`` of every watched feed, by feed address."""
    return {t.address: latest_round_data(t.address) for t in targets}


def feed_rounds(
    calls: Mapping[str, StateCall], state: Mapping[StateCall, Any]
) -> Iterator[tuple[str, RoundData]]:
    """``(feed, round)`` for every feed of :func:`feed_calls` whose round could be read."""
    for feed, call in calls.items():
        round_data = RoundData.read(state.get(call))
        if round_data is not None:
            yield feed, round_data


# Safe 1.4.1 (OwnerManager, ModuleManager, GuardManager, FallbackManager).
SAFE_CONFIG_EVENTS = (
    event_abi("AddedOwner", ("address", "owner", True)),
    event_abi("RemovedOwner", ("address", "owner", True)),
    event_abi("ChangedThreshold", ("uint256", "threshold", False)),
    event_abi("EnabledModule", ("address", "module", True)),
    event_abi("DisabledModule", ("address", "module", True)),
    event_abi("ChangedGuard", ("address", "guard", True)),
    event_abi("ChangedFallbackHandler", ("address", "handler", True)),
)
