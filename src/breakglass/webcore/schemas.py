"""Request and response bodies. Responses copy fields out of the ORM rows, so nothing the
model does not name (token hashes, internal columns) can leak."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    computed_field,
)

from breakglass.incidents.service import durations as incident_durations

__all__ = [
    "AccessOut",
    "ActionOut",
    "ApprovalOut",
    "ApprovalRequestOut",
    "ApproveIn",
    "ErrorOut",
    "IncidentIn",
    "IncidentOut",
    "IncidentStatus",
    "MeOut",
    "NoteIn",
    "PublicUpdateIn",
    "PublicUpdateOut",
    "RunOut",
    "StepOut",
    "StepResultOut",
    "TaskIn",
    "TaskOut",
    "TaskStatusIn",
    "TickOut",
    "TimelineEventOut",
    "TransitionIn",
]

MAX_ID = 2_147_483_647
"""Ids are 32-bit integers on Postgres; larger ones cannot exist."""


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


_DATETIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _iso_datetime(value: object) -> object:
    """Only an ISO 8601 string (as documented), not a number taken as a Unix time."""
    if isinstance(value, str):
        return _DATETIME.validate_strings(value)
    if isinstance(value, datetime):
        return value
    raise ValueError("expected an ISO 8601 date-time with a time zone, e.g. 2024-05-01T12:00:00Z")


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_datetime)]
Text = Annotated[str, Field(max_length=10_000), AfterValidator(_storable)]
Line = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_storable)]
Label = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_storable)]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Severity = Literal["P1", "P2", "P3", "P4", "P5"]
UpdateStatus = Literal["investigating", "identified", "monitoring", "resolved"]
TaskKind = Literal["detective", "preventative", "corrective"]
TaskStatus = Literal["open", "done", "cancelled"]
IncidentStatus = Literal[
    "detected",
    "triaged",
    "contained",
    "eradicated",
    "recovered",
    "closed",
    "false-positive",
    "duplicate",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error: what went wrong, in words."""

    detail: str


class IncidentIn(_In):
    """Open an incident by hand."""

    title: Line
    kind: Label = "manual"
    severity: Severity
    chains: list[Label] = Field(default_factory=list, max_length=50)
    contracts: list[Label] = Field(default_factory=list, max_length=200)
    summary: Text = ""
    detected_at: Moment | None = Field(default=None, description="Default: now.")
    started_at: Moment | None = None


class IncidentOut(_Out):
    id: int
    title: str = Field(
        description="The title people read: the incident lead's, else one generated in plain "
        "words from the records (never the raw alert text, which is alert_title)."
    )
    title_authored: bool = Field(
        default=False, description="Whether a person wrote the title (else it is generated)."
    )
    alert_title: str | None = Field(
        default=None,
        description="The first alert's own title; null for an incident opened by hand.",
    )
    kind: str
    severity: str
    status: str
    chains: list[str]
    contracts: list[str]
    summary: str
    duplicate_of: int | None
    funds_at_risk_usd: float | None
    started_at: datetime | None
    detected_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    next_update_at: datetime | None
    updated_at: datetime
    headline: dict[str, str] | None = Field(
        default=None,
        description="GET /api/incidents/{id} only: funds at risk, lost, recovered or frozen, "
        "users affected, time to detect, contain and recover, as text for people "
        "('not measured' where nothing measured it).",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds to detect (from the first exploit block), and to acknowledge, "
        "contain and resolve (from detection); null where a milestone is missing."
    )
    @property
    def durations(self) -> dict[str, float | None]:
        return {
            name: None if span is None else span.total_seconds()
            for name, span in incident_durations(self).items()
        }


class TransitionIn(_In):
    """Move an incident along its lifecycle."""

    to: IncidentStatus | Literal["duplicate-of"]
    note: Text | None = None
    duplicate_of: Id | None = None


class NoteIn(_In):
    text: Annotated[Text, Field(min_length=1)]


class TimelineEventOut(_Out):
    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str | None
    summary: str
    tx_hash: str | None
    block_number: int | None
    public: bool
    data: dict[str, Any]


class TaskIn(_In):
    title: Line
    kind: TaskKind
    owner: Label | None = None
    due_at: Moment | None = None


class TaskStatusIn(_In):
    status: TaskStatus


class TaskOut(_Out):
    id: int
    incident_id: int | None
    title: str
    owner: str | None
    due_at: datetime | None
    kind: str
    source: str
    status: str
    created_at: datetime
    done_at: datetime | None


class DeadlineOut(BaseModel):
    """One regulatory deadline of an incident and where it stands."""

    regime: str
    name: str
    recipient: str
    start_event: str
    started_at: datetime | None
    due: datetime | None
    status: str
    seconds_left: float | None
    filed_at: datetime | None
    late: bool


class PublicUpdateIn(_In):
    """A status-page update; statuses only go forward."""

    status: UpdateStatus
    title: Line
    body: Annotated[Text, Field(min_length=1)]


class PublicUpdateOut(_Out):
    id: int
    incident_id: int
    status: str
    title: str
    body: str
    published_at: datetime
    author: str | None


class ActionOut(BaseModel):
    """An action as its approver checks it; `target`, `call` and `signer` are null for
    actions that send no transaction (a page, a message)."""

    hash: str = Field(description="What an approval of it must name (`ApproveIn.action`).")
    kind: str
    summary: str
    chain: str | None
    chain_id: int | None
    target: str | None = Field(description="The contract called (or the Safe's target).")
    target_name: str | None = Field(description="The plan's name for the target.")
    call: str | None = Field(description="The calldata decoded, e.g. `pause()`.")
    signer: str | None = Field(description="The plan's signer that sends it, and its type.")
    signer_address: str | None
    production: bool = Field(description="Sent on a chain that is not a local or test network.")


class ApprovalRequestOut(BaseModel):
    """What a step waiting for approval asks for. `requested` is the hash stored when it
    started waiting; `action` is what the plan builds now; `problem` says why an approval
    would be refused (expired, the plan changed since), else null."""

    requested: str | None
    action: ActionOut | None
    approver: str | None = Field(description="The role whose members approve it.")
    approvals: int
    needed: int
    approved_by: list[str]
    expires_at: datetime | None
    problem: str | None


class StepOut(_Out):
    id: int
    position: int
    action: str
    mode: str
    summary: str
    status: str
    tx_hash: str | None
    error: str | None
    decided_by: str | None
    updated_at: datetime
    approval: ApprovalRequestOut | None = Field(
        default=None, description="For a step awaiting approval: what it asks for."
    )


class RunOut(_Out):
    id: int
    playbook: str
    chain: str | None
    trigger: str
    dry_run: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    steps: list[StepOut]


class MeOut(BaseModel):
    person: str
    name: str
    access: str


class AccessOut(BaseModel):
    """A person of the plan, their API access and how many live tokens they hold."""

    person: str
    name: str
    access: str
    live_tokens: int


class StepResultOut(BaseModel):
    position: int
    summary: str
    status: str
    note: str
    tx_hash: str | None
    step_id: int | None
    fallback_run_id: int | None


class ApproveIn(_In):
    """An approval names the action hash its approver was shown (`GET /api/runs`); a step
    asking for another action is refused."""

    action: str = Field(
        pattern=r"^0x[0-9a-fA-F]{16}$",
        examples=["0x0123456789abcdef"],
        description="The `approval.action.hash` the approver was shown.",
    )


class ApprovalOut(BaseModel):
    """The outcome of an approval. `complete`: the step had all its approvals and the run
    resumed (`status` and `steps` say how far it got); `partial`: the approval is
    recorded and the step waits for `needed - approvals` more, from other members."""

    approval: Literal["partial", "complete"]
    approvals: int
    needed: int
    approved_by: list[str]
    action: str
    message: str
    playbook: str
    run_id: int | None
    status: str
    steps: list[StepResultOut]


class TickOut(BaseModel):
    """A ticked checklist step and its run's status afterwards (``succeeded`` once no
    other step waits)."""

    step_id: int
    run_id: int
    run_status: str
