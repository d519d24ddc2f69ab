"""Playbooks, their steps, notification channels and the communication protocol."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from breakglass.plan.models.base import Duration, Name, PlanModel, SecretRef, UrlModel
from breakglass.plan.models.detection import Severity

__all__ = [
    "Audience",
    "CallStep",
    "Channel",
    "Communication",
    "ManualStep",
    "Mode",
    "NotifyStep",
    "PageStep",
    "PauseStep",
    "Playbook",
    "RevokeRoleStep",
    "SafeProposalStep",
    "Step",
    "UnpauseStep",
]


class Mode(StrEnum):
    """How much a person is in the loop: none, an approval, or the person does it."""

    AUTO = "auto"
    APPROVAL = "approval"
    MANUAL = "manual"


class _Step(PlanModel):
    name: str | None = None
    mode: Mode = Mode.AUTO
    on_failure: Name | None = Field(
        default=None, description="Playbook to run when this step fails or does not verify."
    )
    timeout: Duration | None = None
    description: str | None = None
    group: Name | None = Field(
        default=None,
        description="Consecutive steps with the same group run in parallel.",
    )
    approver: Name | None = Field(
        default=None,
        description="Role whose member approves an approval step (default: the role that "
        "handles the action).",
    )
    approvals: int = Field(
        default=1,
        ge=1,
        le=5,
        description="How many different members of the approver role must approve.",
    )
    approval_expires: Duration = Field(
        default=timedelta(hours=1),
        description="An approval step not approved this long after it started waiting can no "
        "longer be approved: the situation it was judged in has moved on; run it again.",
    )


_VERIFY_ARGS = (
    "Arguments of the verify view, e.g. [cDAI] for borrowGuardianPaused(address); names and "
    "${finding.*} allowed."
)


class _ContractStep(_Step):
    """A step that sends a transaction to a contract of the plan."""

    chain: Name | None = Field(
        default=None,
        description="Chain to act on (default: the chain of the alert that started the run, "
        "else the contract's home chain).",
    )


class PauseStep(_ContractStep):
    action: Literal["pause"]
    contract: Name
    signer: Name
    function: str | None = Field(default=None, description="Overrides the contract's pause.")
    verify: str | None = Field(default=None, description="View that must be true afterwards.")
    verify_args: list[Any] = Field(default_factory=list, description=_VERIFY_ARGS)


class UnpauseStep(_ContractStep):
    action: Literal["unpause"]
    contract: Name
    signer: Name
    verify: str | None = None
    verify_args: list[Any] = Field(default_factory=list, description=_VERIFY_ARGS)


class CallStep(_ContractStep):
    action: Literal["call"]
    contract: Name
    signer: Name
    function: str = Field(min_length=3, description="Signature, e.g. setPoolPause(bool).")
    args: list[Any] = Field(default_factory=list)
    verify: str | None = None
    verify_args: list[Any] = Field(default_factory=list, description=_VERIFY_ARGS)


class RevokeRoleStep(_ContractStep):
    action: Literal["revoke-role"]
    contract: Name
    signer: Name
    role: str = Field(min_length=1, description="Role name (e.g. MINTER_ROLE) or bytes32 hex.")
    account: str = Field(min_length=1)


class SafeProposalStep(_Step):
    """Propose a call through a Safe; it executes once enough owners have signed.

    Without ``function`` it proposes the contract's pause.
    """

    action: Literal["safe-proposal"]
    safe: Name
    contract: Name
    function: str | None = Field(default=None, min_length=3)
    args: list[Any] = Field(default_factory=list)
    verify: str | None = None
    verify_args: list[Any] = Field(default_factory=list, description=_VERIFY_ARGS)


class NotifyStep(_Step):
    action: Literal["notify"]
    channel: Name
    message: str | None = None


class PageStep(_Step):
    action: Literal["page"]
    role: Name
    message: str | None = None


class ManualStep(_Step):
    """A step a person carries out, such as taking the front end down."""

    action: Literal["manual"]
    owner: Name = Field(description="Role that carries it out.")
    instructions: str = Field(min_length=1)
    mode: Mode = Mode.MANUAL


Step = Annotated[
    PauseStep
    | UnpauseStep
    | CallStep
    | RevokeRoleStep
    | SafeProposalStep
    | NotifyStep
    | PageStep
    | ManualStep,
    Field(discriminator="action"),
]


class Playbook(PlanModel):
    id: Name
    description: str | None = None
    on: list[Name] = Field(default_factory=list, description="Rule ids that trigger it.")
    severities: list[Severity] = Field(
        default_factory=list, description="Alert severities that trigger it, whatever the rule."
    )
    steps: list[Step] = Field(min_length=1)
    fallback: str | None = Field(
        default=None,
        description="What the team does when a step fails or its fix introduces a new bug.",
    )


class Audience(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


class Channel(UrlModel):
    """An Apprise URL. A bare string is shorthand for ``{url: ...}``."""

    audience: Audience = Audience.INTERNAL
    description: str | None = None
    events: list[str] = Field(
        default_factory=list, description="Event types sent here (default: every one)."
    )
    max_per_minute: int = Field(
        default=20, ge=1, description="Messages beyond this are grouped into one digest."
    )
    signing_key: SecretRef | None = Field(
        default=None,
        description="HMAC-SHA256 key of a JSON webhook; receivers verify the signature header.",
    )
    signature: Literal["breakglass", "oz-monitor"] = Field(
        default="breakglass",
        description="How a signed webhook is signed: breakglass's own headers, or exactly as "
        "OpenZeppelin Monitor does (X-Signature, X-Timestamp), so its receivers keep working.",
    )


class Communication(PlanModel):
    """Who says what, where, and how often during an incident."""

    internal: list[Name] = Field(default_factory=list, description="Internal channels.")
    external: list[Name] = Field(default_factory=list, description="Public channels.")
    update_cadence: Duration | None = None
    spokesperson: Name | None = Field(default=None, description="Role that speaks publicly.")
    status_page: str | None = None
    guidelines: str | None = None
