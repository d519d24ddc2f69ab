"""How operations are restored after an incident: who must approve and through which Safe."""

from __future__ import annotations

from pydantic import Field

from breakglass.plan.models.base import Address, Flag, Name, PlanModel

__all__ = ["Restore"]


class Restore(PlanModel):
    """The gates of ``breakglass restore run``: the fix verified for the deployed bytecode
    and the invariants at the head always; these approvals and a public update as written."""

    safe: Name = Field(description="The Safe signer that administers the contracts.")
    approvals: list[Name] = Field(
        default_factory=list, description="Roles of which one member must approve the restore."
    )
    public_update: Flag = Field(
        default=True, description="A public update (monitoring or resolved) must be drafted."
    )
    multisend: Address = Field(
        default="0x9641d764fc13c8b624c04430c7356c1c7c8102e2",
        description="MultiSendCallOnly 1.4.1 (its canonical address by default).",
    )
