"""What a waiting step would do if approved now, over HTTP: the approval request as
``GET /api/runs`` shows it, and the step simulated on its chain
(:mod:`breakglass.respond.preview`), so an API client can show the same confirmation the
dashboard does before it posts the approval."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from breakglass.webcore.schemas import ApprovalRequestOut
from breakglass.webcore.security import AppState

__all__ = ["ApprovalPreviewOut", "SimulationOut", "preview_out"]


class SimulationOut(BaseModel):
    """The step's call simulated from its signer on the latest block, then its verification."""

    outcome: Literal["would-succeed", "would-revert", "already-done", "no-transaction", "unknown"]
    text: str = Field(description="The outcome in one line, e.g. `would succeed, emits Paused`.")
    sender: str | None = Field(description="The address the call was simulated from.")
    gas_used: int | None
    events: list[str] = Field(description="The events the call would emit, by name.")
    verified: bool | None = Field(description="Whether the step's check holds afterwards.")
    ok: bool = Field(description="Whether approving would do what the step intends.")


class ApprovalPreviewOut(BaseModel):
    """What an approval of the step would send, and what the chain says it would do."""

    request: ApprovalRequestOut
    simulation: SimulationOut


def preview_out(state: AppState, step_id: int) -> ApprovalPreviewOut | None:
    """The preview of step ``step_id``, or None when it is not waiting for approval.
    Blocks while it simulates: call it from a worker thread."""
    from breakglass.respond.preview import preview_step  # noqa: PLC0415
    from breakglass.webcore.approvals import request_out  # noqa: PLC0415 - loads the actions

    preview = preview_step(state.loaded, state.sessions, step_id=step_id)
    if preview is None:
        return None
    sim = preview.simulation
    return ApprovalPreviewOut(
        request=request_out(preview.view),
        simulation=SimulationOut(
            outcome=sim.outcome,
            text=sim.text,
            sender=sim.sender,
            gas_used=sim.gas_used,
            events=list(sim.events),
            verified=sim.verified,
            ok=sim.ok,
        ),
    )
