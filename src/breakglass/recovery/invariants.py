"""The plan's ``invariant`` rules evaluated once, through any ``eth_call``: on a fork around
an upgrade, or on the live chain before a restore."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breakglass.plan.loader import LoadedPlan

__all__ = ["Call", "plan_invariants"]

Call = Callable[[str, str], "str | None"]
"""``eth_call`` of (address, calldata): the ``0x`` answer, or ``None`` when it reverts."""


def plan_invariants(
    loaded: LoadedPlan,
    *,
    chain: str,
    call: Call,
    block: dict[str, int],
    only: str | None = None,
) -> dict[str, bool | None]:
    """Each invariant of the plan on ``chain`` (on contract ``only`` if given), labelled
    ``rule-id: expression`` (with the contract's name when several): whether it holds, or
    ``None`` when one of its views reverts or does not decode."""
    from breakglass.detect.rules.state.invariant import InvariantRule  # noqa: PLC0415
    from breakglass.detect.setup import build_rules  # noqa: PLC0415

    results: dict[str, bool | None] = {}
    for rule in build_rules(loaded, chain=chain):
        if not isinstance(rule, InvariantRule):
            continue
        for target, calls in rule.checks:
            if only is not None and target.address != only:
                continue
            views: dict[Any, Any] = {}
            for key, state_call in calls.items():
                raw = call(state_call.address, state_call.calldata())
                try:
                    views[key] = None if raw is None else state_call.decode(raw)
                except Exception:  # an undecodable answer is an unreadable view
                    views[key] = None
            label = f"{rule.setup.rule_id}: {rule.params.expression}"
            if only is None and len(rule.checks) > 1:
                label += f" on {target.name}"
            if any(v is None for v in views.values()):
                results[label] = None
                continue
            env = {"contract": target.address, "block": block, **rule.contracts}
            results[label] = bool(rule.expression.evaluate(env, views))
    return results
