"""Problems found while loading a plan, and the error that carries all of them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from breakglass.errors import PlanError

__all__ = ["Path", "PlanIssue", "PlanLoadError", "format_path"]

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

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        text = f"{where}: {self.message}"
        if not self.path.startswith("("):
            text = f"{where}: {self.path}: {self.message}"
        details = []
        if self.expected:
            details.append(f"expected {self.expected}")
        if self.found:
            details.append(f"found {self.found}")
        if details:
            text += f" ({'; '.join(details)})"
        return text

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
