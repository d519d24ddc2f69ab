"""Storage-layout compatibility of an upgrade, from solc's ``storageLayout`` output.

An upgrade is safe for storage when every variable of the old implementation keeps its slot,
its offset and its type in the new one; new variables may only take storage the old layout
did not use. Renaming a variable is reported too: it usually means two were swapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["layout_problems"]


def _entries(layout: Mapping[str, Any]) -> dict[tuple[int, int], tuple[str, str, int]]:
    types: Mapping[str, Any] = layout.get("types") or {}
    found: dict[tuple[int, int], tuple[str, str, int]] = {}
    for var in layout.get("storage", ()):
        info = types.get(var["type"], {})
        label = str(info.get("label", var["type"]))
        size = int(info.get("numberOfBytes", 32))
        found[(int(var["slot"]), int(var["offset"]))] = (str(var["label"]), label, size)
    return found


def _used(entries: Mapping[tuple[int, int], tuple[str, str, int]]) -> set[tuple[int, int]]:
    """Every (slot, byte) the variables occupy; a value past 32 bytes spans later slots."""
    used: set[tuple[int, int]] = set()
    for (slot, offset), (_, _, size) in entries.items():
        for i in range(offset, offset + size):
            used.add((slot + i // 32, i % 32))
    return used


def layout_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What breaks when storage laid out as ``old`` is read by code laid out as ``new``.

    Returns:
        One sentence per problem; empty when the new layout extends the old one safely.
    """
    before, after = _entries(old), _entries(new)
    problems: list[str] = []
    for (slot, offset), (name, type_label, _) in sorted(before.items()):
        moved = next(
            (pos for pos, (n, _, _) in after.items() if n == name and pos != (slot, offset)),
            None,
        )
        there = after.get((slot, offset))
        if there is None:
            where = f", now at slot {moved[0]} offset {moved[1]}" if moved else ""
            problems.append(f"`{name}` (slot {slot}, offset {offset}) is gone{where}")
        elif there[1] != type_label:
            problems.append(
                f"slot {slot} offset {offset}: `{name}` was {type_label}, "
                f"the new code reads `{there[0]}` as {there[1]}"
            )
        elif there[0] != name:
            problems.append(
                f"slot {slot} offset {offset}: `{name}` is read as `{there[0]}` "
                f"(same type, another name)"
            )
    old_used = _used(before)
    for (slot, offset), (name, _, _) in sorted(after.items()):
        if (slot, offset) in before:
            continue
        overlap = _used({(slot, offset): after[(slot, offset)]}) & old_used
        if overlap:
            problems.append(
                f"new `{name}` at slot {slot} offset {offset} overlaps storage the old "
                "implementation uses"
            )
    return problems
