"""What the plan's channels hear of a settled step: a contract paused, an action done on
chain, or a step failed and the fallback started.

Messages that speak to people (notify, page, checklist items) are not announced again when
they work; every failed step is, whatever its action, because a failed page is exactly what
nobody would otherwise hear of.
"""

from __future__ import annotations

from typing import Any

from breakglass.plan.models.response import Step

__all__ = ["ON_CHAIN_ACTIONS", "announcement"]

ON_CHAIN_ACTIONS = frozenset({"pause", "unpause", "call", "revoke-role", "safe-proposal"})
"""Actions whose outcome (sent, verified, skipped) is announced when they succeed."""


def announcement(
    *,
    playbook: str,
    position: int,
    step: Step,
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
    if step.action not in ON_CHAIN_ACTIONS or status not in ("done", "skipped"):
        return None
    contract = getattr(step, "contract", None)
    sent = "verified" if tx_hash else "already in effect, nothing sent"
    if step.action == "pause" and contract is not None:
        return "paused", {**context, "contracts_paused": [contract], "outcome": sent}
    return "step_done", {**context, "contract": contract, "outcome": sent}
