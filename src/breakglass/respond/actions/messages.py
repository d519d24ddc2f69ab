"""Steps that speak to people: notify a channel, page a role, a checklist item.

Messages are queued in the database by the notification service before anything is sent,
and retried until delivered; a page goes to the role's members in escalation order until
one acknowledges. A step is done once its message is safely queued. In a dry run they
record what they would send, to whom, and send nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from breakglass.respond.actions.base import Action, ActionEnv, Outcome, Record

__all__ = ["ChecklistAction", "NotifyAction", "PageAction"]

_log = structlog.get_logger("breakglass.respond")


@dataclass
class NotifyAction(Action):
    kind: str
    summary: str
    chain: str | None
    mitigation: str | None
    channel: str
    message: str

    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        if env.dry_run:
            record(
                "notify", channel=self.channel, message=self.message, delivery="dry run: not sent"
            )
            return Outcome("done", f"dry run: would notify {self.channel}")
        context = {"message": self.message, "title": self.message, "summary": self.summary}
        deliveries = env.notifier().notify("playbook", context, channels=[self.channel])
        _log.info("respond.notify", channel=self.channel, deliveries=deliveries)
        record("notify", channel=self.channel, message=self.message, deliveries=deliveries)
        return Outcome(
            "done", f"queued for {self.channel} (delivery {', '.join(map(str, deliveries))})"
        )


@dataclass
class PageAction(Action):
    kind: str
    summary: str
    chain: str | None
    mitigation: str | None
    role: str
    people: list[str]
    message: str

    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        if env.dry_run:
            record(
                "page",
                role=self.role,
                people=self.people,
                message=self.message,
                delivery="dry run: not sent",
            )
            return Outcome("done", f"dry run: would page {self.role}: {', '.join(self.people)}")
        page_id = env.notifier().page(self.role, self.message)
        _log.warning("respond.page", role=self.role, people=self.people, page=page_id)
        record("page", role=self.role, people=self.people, page=page_id)
        who = ", ".join(self.people) or "nobody (the role is empty)"
        return Outcome("done", f"paged {self.role} (page {page_id}, in order: {who})")


@dataclass
class ChecklistAction(Action):
    """A manual step: it waits until a member of ``owner`` ticks it."""

    kind: str
    summary: str
    chain: str | None
    mitigation: str | None
    owner: str
    instructions: str

    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        record("waiting", status="todo", owner=self.owner, instructions=self.instructions)
        return Outcome("waiting", f"for {self.owner}: {self.instructions}")
