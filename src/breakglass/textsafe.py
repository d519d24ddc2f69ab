"""Text that someone else wrote (token names, event fields, incident titles, notes) on its
way to a terminal, a chat channel or a Markdown document.

:func:`strip_controls` removes what a terminal or a client would act on rather than show:
C0 and C1 control characters but tab and newline (ANSI escape sequences start with ESC or
CSI; a carriage return overwrites a line) and the bidirectional overrides that make text
read differently from what it is.

:func:`inert_for_chat` is what a value gets before it enters a chat message: Slack, Discord,
Telegram and Markdown channels each have their own pings and links, so angle brackets become
look-alikes (no ``<!channel>``, ``<@U…>``, ``<url|text>``, HTML or autolink survives),
brackets are escaped (no Markdown link) and ``@everyone``-style pings are broken.
"""

from __future__ import annotations

import re

__all__ = ["inert_for_chat", "strip_controls"]

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CHAT_ESCAPE = re.compile(r"([\\\[\]])")
_PINGS = re.compile(r"@(?=(?:everyone|here|channel|all|group)\b)", re.IGNORECASE)
_ANGLES = str.maketrans({"<": "\u2039", ">": "\u203a"})


def strip_controls(text: str) -> str:
    """``text`` without control characters (tab and newline kept) or bidi overrides."""
    return _CONTROLS.sub("", text)


def inert_for_chat(text: str) -> str:
    """``text`` made safe to interpolate into a chat message of any channel type."""
    text = _CHAT_ESCAPE.sub(r"\\\1", strip_controls(text)).translate(_ANGLES)
    return _PINGS.sub("@\u200b", text)
