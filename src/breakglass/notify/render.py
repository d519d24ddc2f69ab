"""Messages from Jinja2 templates, one per event type, shipped in ``templates/``.

A template ``<event>.md.j2`` extends ``_base.md.j2`` and fills two blocks: ``title`` (one
line) and ``body`` (Markdown, plain enough to read as text). Events without their own
template use ``message.md.j2``. Templates whose name contains ``.html`` are autoescaped:
``email.html.j2`` wraps a rendered message for HTML mail, so a token name or an alert title
written by an attacker cannot inject markup.

Every value a Markdown template interpolates (token names, event fields, titles: chosen by
whoever wrote the contract or sent the transaction) passes through
:func:`~breakglass.textsafe.inert_for_chat` first, so it cannot ping a channel, hide a link
or send a terminal escape sequence. :func:`for_channel` then adapts the escaping to a
channel type whose Markdown has no backslash escapes (Slack).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, TemplateNotFound

from breakglass.plan.models.base import Secret, format_duration
from breakglass.textsafe import inert_for_chat

__all__ = [
    "TEMPLATES_DIR",
    "Message",
    "events",
    "for_channel",
    "jsonable",
    "render",
    "render_html",
]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Message:
    """A rendered message and the structured fields a JSON webhook receives."""

    event: str
    title: str
    body: str
    timestamp: datetime
    severity: str | None = None
    incident_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON document a webhook receives (also kept in the delivery log)."""
        return {
            "event": self.event,
            "incident_id": self.incident_id,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "timestamp": self.timestamp.isoformat(),
            "fields": self.fields,
        }


def _utc(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _usd(value: Any) -> str:
    try:
        return f"${float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


def _duration(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, int | float):
        return format_duration(timedelta(seconds=value))
    return str(value)


def _is_html(name: str | None) -> bool:
    return name is not None and ".html" in name


def _inert(value: Any) -> Any:
    """``value`` with every string in it made inert for chat (enums and numbers kept, so
    templates still compare and format them)."""
    if isinstance(value, enum.Enum | bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return inert_for_chat(value)
    if isinstance(value, Mapping):
        return {k: _inert(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_inert(v) for v in value]
    return value


def _finalize(value: Any) -> Any:
    # Objects a template prints as they are (not strings, already made inert) get their
    # text made inert too.
    if isinstance(value, str | int | float | datetime | date | timedelta) or value is None:
        return value
    return inert_for_chat(str(value))


_SLACK_SCHEMES = frozenset({"slack"})
_UNESCAPE = re.compile(r"\\([\\\[\]])")


def for_channel(scheme: str, text: str) -> str:
    """A rendered title or body as a channel of ``scheme`` needs it: Slack's mrkdwn has no
    backslash escapes (and no ``[text](url)`` links), so the escapes come off there."""
    if scheme.lower() in _SLACK_SCHEMES:
        return _UNESCAPE.sub(r"\1", text)
    return text


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=_is_html,  # noqa: S701 - escapes .html templates; Markdown is not HTML
    undefined=ChainableUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_env.filters.update(utc=_utc, usd=_usd, duration=_duration)


def events() -> list[str]:
    """Event types that have their own template."""
    return sorted(
        path.name.removesuffix(".md.j2")
        for path in TEMPLATES_DIR.glob("*.md.j2")
        if not path.name.startswith("_")
    )


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, enums, durations and other objects made JSON-safe.

    A :class:`Secret` becomes its template, never its resolved value.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Secret):
        return value.template
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def render(event: str, context: Mapping[str, Any], *, now: datetime) -> Message:
    """Render ``event`` with ``context`` (missing keys render empty, never fail)."""
    try:
        template = _env.get_template(f"{event}.md.j2")
    except TemplateNotFound:
        template = _env.get_template("message.md.j2")
    variables = {"event": event, "now": now, **_inert(dict(context))}
    ctx = template.new_context(variables)
    title = " ".join("".join(template.blocks["title"](ctx)).split())
    body = template.render(variables).strip()
    severity = context.get("severity")
    incident_id = context.get("incident_id")
    return Message(
        event=event,
        title=title or event.replace("_", " "),
        body=body,
        timestamp=now,
        severity=None if severity is None else str(jsonable(severity)),
        incident_id=incident_id if isinstance(incident_id, int) else None,
        fields=jsonable(dict(context)),
    )


def render_html(title: str, body: str) -> str:
    """An HTML e-mail of a rendered message; everything in it is escaped."""
    return _env.get_template("email.html.j2").render(title=title, body=body)
