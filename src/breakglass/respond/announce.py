"""What the plan's channels hear of a settled step: a contract paused, an action done on
chain, a Safe proposal waiting for its owners' signatures, or a step failed and the
fallback started.

Messages that speak to people (notify, page, checklist items) are not announced again when
they work; every failed step is, whatever its action, because a failed page is exactly what
nobody would otherwise hear of.
"""

from __future__ import annotations

from typing import Any

from breakglass.plan.models.response import PauseStep, SafeProposalStep, Step

__all__ = ["ON_CHAIN_ACTIONS", "announcement", "pauses"]

ON_CHAIN_ACTIONS = frozenset({"pause", "unpause", "call", "revoke-role", "safe-proposal"})
"""Actions whose outcome (sent, verified, skipped) is announced when they succeed."""


def pauses(step: Step | None) -> str | None:
    """The contract ``step`` pauses: a pause, or a Safe proposal of the contract's pause."""
    if isinstance(step, PauseStep) or (
        isinstance(step, SafeProposalStep) and step.function is None
    ):
        return step.contract
    return None


def announcement(
    *,
    playbook: str,
    position: int,
    step: Step | None,
    summary: str,
    chain: str | None,
    status: str,
    note: str,
    tx_hash: str | None,
    fallback: str | None,
    trigger: str,
) -> tuple[str, dict[str, Any]] | None:
    """The notification event and its context for a step that ended in ``status``, or
    None when nobody needs to hear of it.

    Args:
        step: the plan's step; None for a Safe proposal imported from elsewhere.
        fallback: the playbook started because the step failed (None: no fallback ran).
    """
    context: dict[str, Any] = {
        "playbook": playbook,
        "step": position,
        "action": summary,
        "chain": chain,
        "trigger": trigger,
        "note": note,
        "tx_hash": tx_hash,
    }
    if status == "failed":
        return "step_failed", {**context, "error": note, "fallback": fallback}
    kind = step.action if step is not None else "safe-proposal"
    if kind == "safe-proposal" and status == "waiting":  # owners elsewhere must sign it
        return "step_done", {**context, "outcome": "proposed, waiting for signatures"}
    if kind not in ON_CHAIN_ACTIONS or status not in ("done", "skipped"):
        return None
    sent = "verified" if tx_hash else "already in effect, nothing sent"
    paused = pauses(step)
    if paused is not None:
        return "paused", {**context, "contracts_paused": [paused], "outcome": sent}
    contract = getattr(step, "contract", None)
    return "step_done", {**context, "contract": contract, "outcome": sent}
