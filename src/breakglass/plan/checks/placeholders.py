from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.issues import Path

_MARKER = "TODO"
_ZERO_ADDRESS = "0x" + "0" * 40


def _walk(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))
    elif isinstance(node, str) and (_MARKER in node or node == _ZERO_ADDRESS):
        yield path, node


class Placeholders(PlanCheck):
    id = "plan.placeholders"
    title = "No placeholder is left to fill in"
    severity = CheckSeverity.WARNING
    explanation = (
        "`breakglass init` writes a starter plan with TODO markers where only the team knows "
        "the answer. A plan with a TODO in a contact or an address fails when it is needed."
    )
    fix = "Replace each TODO with the real value."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for path, value in _walk(ctx.loaded.document.data, ()):
            yield Finding(f"placeholder left to fill in: {value!r}", path)
