"""Steps that speak to people: notify a channel, page a role, a checklist item.

Delivery through the channels arrives with the notification service; until then these
steps log what they would deliver, and say so in their outcome.
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
            record("notify", channel=self.channel, delivery="dry run: not sent")
            return Outcome("done", f"dry run: would notify {self.channel}")
        _log.info("respond.notify", channel=self.channel, message=self.message)
        record("notify", channel=self.channel, message=self.message, delivery="logged")
        return Outcome("done", f"logged for {self.channel} (channel delivery not yet built)")


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
            record("page", role=self.role, people=self.people, delivery="dry run: not sent")
            return Outcome("done", f"dry run: would page {self.role}: {', '.join(self.people)}")
        _log.warning("respond.page", role=self.role, people=self.people, message=self.message)
        record("page", role=self.role, people=self.people, delivery="logged")
        who = ", ".join(self.people) or "nobody (the role is empty)"
        return Outcome("done", f"page for {self.role} logged: {who}")


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
