"""Shared consoles: results to stdout, problems to stderr.

Both strip control characters from the text they print: token names, event fields and
incident titles come from whoever wrote a contract or sent a transaction, and an ANSI
escape sequence in one could rewrite the responder's screen (Rich's ``escape`` handles
markup, not escapes). Rich's own styling and cursor control pass through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

from breakglass.textsafe import strip_controls

__all__ = ["InertConsole", "err", "out"]


class InertConsole(Console):
    """A Rich console that never writes a control character it was given as text."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(strip_controls(segment.text), segment.style)
            for segment in buffer
        )


out = InertConsole(highlight=False, soft_wrap=True)
err = InertConsole(stderr=True, highlight=False, soft_wrap=True)
