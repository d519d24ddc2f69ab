"""The people's part of a post-mortem, its status, and the lessons that feed the plan.

The team writes ``postmortem-<id>.yaml`` (summary override, root cause and 5 whys, what went
well or wrong, where it was lucky, plan changes, action items). breakglass creates it once,
with empty prompts, and never overwrites it. Action items become :class:`Task` rows with
source ``post-mortem``; one that names a plan section carries it in its title as
``[plan:<section>] …`` so :func:`open_plan_changes` can list what the plan still owes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.errors import BreakglassError
from breakglass.incidents.service import TaskSource, TaskStatus, add_task, get_incident
from breakglass.outputs import output_dir, writing
from breakglass.plan.models import Plan
from breakglass.store.models import Postmortem, Task

__all__ = [
    "PLAN_SECTIONS",
    "STATUSES",
    "ActionItem",
    "HumanNotes",
    "PlanChange",
    "PostmortemError",
    "get_postmortem",
    "load_notes",
    "notes_path",
    "open_plan_changes",
    "plan_section_of",
    "set_postmortem_status",
    "sync_action_items",
    "task_title",
    "write_notes_template",
]

STATUSES = ("draft", "in-review", "published")
_NEXT: dict[str, tuple[str, ...]] = {
    "draft": ("in-review",),
    "in-review": ("draft", "published"),
    "published": ("in-review",),
}
PLAN_SECTIONS = tuple(name for name in Plan.model_fields if name != "version")
"""The top-level sections of a plan an action item may name."""
_SECTION = re.compile(r"^\[plan:([a-z_]+)\] (.*)$", re.DOTALL)


class PostmortemError(BreakglassError):
    """A post-mortem cannot be written or moved (bad notes file, bad status change)."""


class ActionItem(BaseModel):
    """One action item the team wrote; it becomes a task of the incident."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    owner: str | None = None
    due: date | None = None
    kind: Literal["detective", "preventative", "corrective"] = "corrective"
    plan_section: str | None = None

    @field_validator("plan_section")
    @classmethod
    def _known_section(cls, value: str | None) -> str | None:
        if value is not None and value not in PLAN_SECTIONS:
            raise ValueError(f"{value!r} is not a plan section ({', '.join(PLAN_SECTIONS)})")
        return value


def _texts(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of texts")  # noqa: TRY004 - pydantic wants ValueError
    return [str(item).strip() for item in value if item is not None and str(item).strip()]


class HumanNotes(BaseModel):
    """The fields people write; blank entries are dropped."""

    model_config = ConfigDict(extra="forbid")

    summary: str = ""
    background: str = ""
    root_cause: str = ""
    remediation: str = ""
    disclosure: str = ""
    confidentiality: str = ""
    authors: list[str] = Field(default_factory=list)
    five_whys: list[str] = Field(default_factory=list)
    went_well: list[str] = Field(default_factory=list)
    went_wrong: list[str] = Field(default_factory=list)
    lucky: list[str] = Field(default_factory=list)
    plan_changes: list[str] = Field(default_factory=list)
    lessons: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)

    @field_validator(
        "summary", "background", "root_cause", "remediation", "disclosure", "confidentiality",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _text(cls, value: object) -> str:
        return "" if value is None else str(value).strip()

    @field_validator(
        "authors", "five_whys", "went_well", "went_wrong", "lucky", "plan_changes", "lessons",
        "references", mode="before",
    )  # fmt: skip
    @classmethod
    def _list(cls, value: object) -> list[str]:
        return _texts(value)

    @field_validator("action_items", mode="before")
    @classmethod
    def _items(cls, value: object) -> object:
        return [] if value is None else value


_TEMPLATE = """\
# Post-mortem of incident #{id}: {title}
# breakglass wrote this file once and never overwrites it. Fill it in, then run
# `breakglass postmortem {id}{out}` again; empty fields show as prompts in the report.

# Who wrote this post-mortem (empty: the incident lead and the scribe of the incident).
authors: []

# How the report is marked until it is published (empty: "Confidential: draft for the
# response team" while a draft, "Public" once published).
confidentiality: ""

# A paragraph for readers outside the team (empty: the incident's summary).
summary: ""

# What the protocol and the affected contracts do, for a reader new to them (empty: the
# plan's descriptions).
background: ""

# The root cause, in a sentence or two.
root_cause: ""

# The fix: what was changed, how it was verified and deployed.
remediation: ""

# Third parties told (auditors, exchanges, law enforcement, SEAL 911) and when.
disclosure: ""

# 5 whys: ask "why?" of each answer until you reach a cause you can fix.
five_whys:
  - ""
  - ""
  - ""
  - ""
  - ""

# What went well in the response?
went_well: []

# What went wrong?
went_wrong: []

# Where were we lucky (what would have made it worse)?
lucky: []

# Lessons for other teams.
lessons: []

# Changes to the plan and runbooks this incident calls for.
plan_changes: []

# Links: the fix's pull request, the audit, public statements, related incidents.
references: []

# Action items: each becomes a task of the incident (source post-mortem).
# plan_section names the plan section the item changes; `plan check` lists them until done.
action_items: []
#  - title: Pause the pool when the oracle goes stale
#    owner: alice
#    due: 2026-04-01
#    kind: preventative   # detective, preventative or corrective
#    plan_section: playbooks
"""


def notes_path(directory: Path, incident_id: int) -> Path:
    """Where the notes of an incident live: ``postmortem-<id>.yaml`` in ``directory``."""
    return directory / f"postmortem-{incident_id}.yaml"


def write_notes_template(path: Path, incident_id: int, title: str) -> bool:
    """Create the notes file with empty prompts; never touch an existing one. True if
    written."""
    flat = " ".join(title.split())
    # The command must name this file's directory: run elsewhere (the demo writes under
    # demo/postmortem/), a bare `breakglass postmortem 1` reads the notes of the current one
    # and leaves what the team wrote here out of the report.
    here = path.parent
    out = "" if here == Path() else f" --out {shlex.quote(str(here))}"
    output_dir(here)
    with writing(path):
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(_TEMPLATE.format(id=incident_id, title=flat, out=out))
        except FileExistsError:
            return False
    return True


def load_notes(path: Path) -> HumanNotes:
    """Read the notes file; a missing file is empty notes."""
    if not path.exists():
        return HumanNotes()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return HumanNotes.model_validate(data or {})
    except yaml.YAMLError as exc:
        raise PostmortemError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PostmortemError(f"{path}: {problems}") from None


def task_title(item: ActionItem) -> str:
    """The task title of an action item: ``[plan:<section>] title`` when it names one."""
    title = " ".join(item.title.split())
    return f"[plan:{item.plan_section}] {title}" if item.plan_section else title


def sync_action_items(
    session: Session, incident_id: int, notes: HumanNotes, *, actor: str
) -> list[Task]:
    """Add a task (source ``post-mortem``) for each action item that has none yet, matched
    by title; existing tasks keep their status. Returns the tasks added."""
    existing = set(
        session.scalars(
            select(Task.title).where(
                Task.incident_id == incident_id, Task.source == str(TaskSource.POST_MORTEM)
            )
        )
    )
    added = []
    for item in notes.action_items:
        title = task_title(item)
        if title in existing:
            continue
        due = datetime.combine(item.due, time(), UTC) if item.due is not None else None
        task = add_task(
            session,
            incident_id,
            title,
            owner=item.owner,
            due_at=due,
            kind=item.kind,
            source=str(TaskSource.POST_MORTEM),
            actor=actor,
        )
        existing.add(title)
        added.append(task)
    return added


@dataclass(frozen=True, slots=True)
class PlanChange:
    """An open post-mortem action item that changes a plan section."""

    task_id: int
    incident_id: int | None
    section: str
    title: str
    owner: str | None
    due_at: datetime | None


def plan_section_of(title: str) -> tuple[str | None, str]:
    """Split a task title into the plan section it names (or None) and the rest."""
    match = _SECTION.match(title)
    return (match.group(1), match.group(2)) if match else (None, title)


def open_plan_changes(session: Session) -> list[PlanChange]:
    """Open post-mortem tasks that name a plan section, oldest first: lessons the plan has
    not taken in yet."""
    query = (
        select(Task)
        .where(Task.source == str(TaskSource.POST_MORTEM), Task.status == str(TaskStatus.OPEN))
        .order_by(Task.id)
    )
    changes = []
    for task in session.scalars(query):
        section, title = plan_section_of(task.title)
        if section is not None:
            changes.append(
                PlanChange(task.id, task.incident_id, section, title, task.owner, task.due_at)
            )
    return changes


def get_postmortem(session: Session, incident_id: int, *, now: datetime) -> Postmortem:
    """The incident's post-mortem row, created as a draft the first time."""
    get_incident(session, incident_id)
    row = session.scalars(select(Postmortem).where(Postmortem.incident_id == incident_id)).first()
    if row is None:
        row = Postmortem(incident_id=incident_id, status="draft", updated_at=now)
        session.add(row)
        session.flush()
    return row


def set_postmortem_status(
    session: Session, incident_id: int, status: str, *, now: datetime
) -> Postmortem:
    """Move the post-mortem draft → in-review → published (back to draft from review, or
    back to review from published to correct it). ``published_at`` keeps the first time."""
    if status not in STATUSES:
        raise PostmortemError(f"post-mortem status {status!r}: use one of {', '.join(STATUSES)}")
    row = get_postmortem(session, incident_id, now=now)
    if status == row.status:
        return row
    if status not in _NEXT[row.status]:
        raise PostmortemError(f"a post-mortem cannot go from {row.status} to {status}")
    row.status = status
    row.updated_at = now
    if status == "published" and row.published_at is None:
        row.published_at = now
    session.flush()
    return row
