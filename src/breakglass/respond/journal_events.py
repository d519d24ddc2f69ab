"""What respond tells the other stages of a stored step phase: the events the journal writes
to the outbox beside the phase's row.

Ids come from the stored rows (the phase's row id, the step's id with the transaction hash),
so a phase stored once is told once, however often the outbox delivers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from breakglass.events import ActionExecuted, Event, StepPhase
from breakglass.store.models import StepEvent

if TYPE_CHECKING:
    from breakglass.respond.journal import StepHandle

__all__ = ["executed_key", "step_events"]


def executed_key(phase: str, detail: dict[str, Any]) -> str | None:
    """What makes a phase an executed action, as the suffix of its event id, or None.

    A receipt (the transaction landed, by its hash), a verify phase (the chain's word on
    the step's check), a precheck that found the effect already in place (counts as
    verified: the contract is paused, whoever paused it), or a Safe proposal made and
    waiting for signatures.
    """
    tx = detail.get("tx_hash")
    if phase == "receipt" and isinstance(tx, str) and tx:
        return tx.lower()
    if phase == "verify":
        return "verify"
    if phase == "precheck" and detail.get("status") == "skipped":
        return "precheck"
    if phase == "waiting" and detail.get("status") == "awaiting-signatures":
        return "proposal"
    return None


def step_events(step: StepHandle, stored: StepEvent) -> list[Event]:
    """The events of the stored phase ``stored`` of ``step`` (flushed: it has its id)."""
    run = step.run
    if step.id is None or run.id is None:  # the run or step row was lost: nothing to name
        return []
    detail = dict(stored.detail)
    common: dict[str, Any] = {
        "occurred_at": stored.at,
        "run_id": run.id,
        "step_id": step.id,
        "trigger": run.trigger,
        "playbook": run.playbook,
        "action": step.action,
        "chain": run.chain,
        "detail": detail,
        "summary": step.summary,
        "dry_run": run.dry_run,
        "parent_step_id": run.parent_step_id,
    }
    events: list[Event] = [
        StepPhase(
            event_id=StepPhase.key(stored.id),
            step=step.position,
            phase=stored.phase,
            **common,
        )
    ]
    suffix = executed_key(stored.phase, detail)
    if suffix is not None:
        block = detail.get("block")
        tx = detail.get("tx_hash")
        holds = detail.get("holds")
        events.append(
            ActionExecuted(
                event_id=ActionExecuted.key(step.id, suffix),
                step=step.position,
                tx_hash=tx if isinstance(tx, str) else None,
                block_number=block if isinstance(block, int) else None,
                verified=True
                if suffix == "precheck"
                else (holds if isinstance(holds, bool) else None),
                **common,
            )
        )
    return events
