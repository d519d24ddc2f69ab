"""Text that someone else wrote (token names, event fields, incident titles, notes) on its
way to a terminal, a chat channel or a Markdown document.

:func:`strip_controls` removes what a terminal or a client would act on rather than show:
C0 and C1 control characters but tab and newline (ANSI escape sequences start with ESC or
CSI; a carriage return overwrites a line) and the bidirectional overrides that make text
read differently from what it is. :func:`escape_markdown` makes text inert in Markdown: no
link, image, emphasis, code span, table cell or raw HTML can come out of it.
"""

from __future__ import annotations

import re

__all__ = ["escape_markdown", "strip_controls"]

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>|#!~])")


def strip_controls(text: str) -> str:
    """``text`` without control characters (tab and newline kept) or bidi overrides."""
    return _CONTROLS.sub("", text)


def escape_markdown(text: str) -> str:
    """``text`` with every Markdown-significant character backslash-escaped, and no
    control characters."""
    return _MARKDOWN.sub(r"\\\1", strip_controls(text))
