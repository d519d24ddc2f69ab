"""Problems found while loading a plan, and the error that carries all of them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from breakglass.errors import PlanError

__all__ = ["Path", "PlanIssue", "PlanLoadError", "format_path", "name_list", "with_details"]

Path = tuple[str | int, ...]
"""A location inside the plan document: mapping keys and list indexes."""

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: Path) -> str:
    """Render a path as people write it: ``playbooks[2].steps[0].signer``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


NAME_LIST_LIMIT = 12
"""Names shown in a did-you-mean list; the rest are counted, not dropped silently."""


def name_list(names: Iterable[str], *, limit: int = NAME_LIST_LIMIT) -> str:
    """``one of: a, b, c`` for an ``expected``; past ``limit`` names, how many more there are
    (``one of: a, b, ... (and 7 more)``), so a short list is never taken for the whole."""
    ordered = sorted(dict.fromkeys(names))
    if not ordered:
        return "none defined"
    shown = ", ".join(ordered[:limit])
    left_out = len(ordered) - limit
    return f"one of: {shown}" + (f" (and {left_out} more)" if left_out > 0 else "")


def with_details(message: str, expected: str | None, found: str | None) -> str:
    """``message (expected ...; found ...)``, the way every plan problem reads."""
    details = []
    if expected:
        details.append(f"expected {expected}")
    if found:
        details.append(f"found {found}")
    return f"{message} ({'; '.join(details)})" if details else message


@dataclass(frozen=True, slots=True)
class PlanIssue:
    """One thing wrong with a plan file, located precisely enough to fix it."""

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None
    expected: str | None = None
    found: str | None = None

    @classmethod
    def at(
        cls,
        file: str,
        path: Path,
        message: str,
        position: tuple[int, int] | None,
        *,
        expected: str | None = None,
        found: str | None = None,
    ) -> PlanIssue:
        """An issue about ``path``, at ``position`` (line, column) in the file when known."""
        return cls(
            file=file,
            path=format_path(path),
            message=message,
            line=position[0] if position else None,
            column=position[1] if position else None,
            expected=expected,
            found=found,
        )

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        message = with_details(self.message, self.expected, self.found)
        if self.path.startswith("("):
            return f"{where}: {message}"
        return f"{where}: {self.path}: {message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        }


class PlanLoadError(PlanError):
    """The plan could not be loaded; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Iterable[PlanIssue]) -> None:
        self.issues: Sequence[PlanIssue] = sorted(
            issues, key=lambda i: (i.line or 0, i.column or 0, i.path)
        )
        count = len(self.issues)
        head = f"the plan has {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))
