"""docs/plan.md documents every field the plan loader accepts.

The test walks the pydantic models from ``Plan`` down and looks for each field's name in the
part of the document about its top-level section: the section's row of the table, the
headings that name the section (``## Playbook steps`` for ``playbooks``), and any heading
that declares it covers the section with ``<!-- fields of: contracts, playbooks -->``. A
field the models gain and the doc does not mention fails the test, which lists them all.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from breakglass.plan.models import Plan

DOC = Path(__file__).parents[2] / "docs" / "plan.md"
_ROW = re.compile(r"^\| `(?P<section>[a-z_]+)` \|")
_HEADING = re.compile(r"^#{2,4} (?P<title>.+)$")
_COVERS = re.compile(r"<!--\s*fields of:\s*(?P<sections>[a-z_, ]+?)\s*-->")


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple, set, frozenset):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def model_fields(
    model: type[BaseModel], prefix: str = "", seen: set[type[BaseModel]] | None = None
) -> Iterator[tuple[str, str, str]]:
    """Every field reachable from ``model``: (top-level section, dotted path, name)."""
    seen = set() if seen is None else seen
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        yield path.split(".")[0], path, key
        for candidate in _unwrap(field.annotation):
            if (
                isinstance(candidate, type)
                and issubclass(candidate, BaseModel)
                and candidate not in seen
            ):
                yield from model_fields(candidate, path, seen | {candidate})


def section_texts(doc: str) -> dict[str, str]:
    """The text about each top-level section: its table row and the headings about it."""
    texts: dict[str, list[str]] = {}
    blocks: list[tuple[str, list[str]]] = [("", [])]
    for line in doc.splitlines():
        if match := _ROW.match(line):
            texts.setdefault(match["section"], []).append(line)
        if match := _HEADING.match(line):
            blocks.append((match["title"], []))
        blocks[-1][1].append(line)
    sections = {section for section, _, _ in model_fields(Plan)}
    for title, lines in blocks:
        body = "\n".join(lines)
        covered = {s.strip() for m in _COVERS.finditer(body) for s in m["sections"].split(",") if s}
        words = set(re.findall(r"[a-z_]+", title.lower()))
        for section in sections:
            singular = section.removesuffix("s")
            if section in covered or section in words or singular in words:
                texts.setdefault(section, []).append(body)
    return {section: "\n".join(parts) for section, parts in texts.items()}


def undocumented(doc: str) -> list[str]:
    texts = section_texts(doc)
    missing = []
    for section, path, name in model_fields(Plan):
        text = texts.get(section, "")
        if path == section:
            text = "\n".join(texts.values())  # a section is documented by its row
        if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            missing.append(path)
    return sorted(dict.fromkeys(missing))


def test_every_plan_field_is_documented() -> None:
    missing = undocumented(DOC.read_text(encoding="utf-8"))
    assert not missing, (
        "docs/plan.md does not mention these plan fields where their section is documented "
        "(the section's table row, a heading naming it, or a heading marked "
        "<!-- fields of: SECTION -->):\n  " + "\n  ".join(missing)
    )


def test_the_walk_sees_nested_and_union_fields() -> None:
    paths = {path for _, path, _ in model_fields(Plan)}
    assert {"people.page", "roles.escalate_after", "chains.health.grace"} <= paths
    assert {"signers.threshold", "signers.headers"} <= paths  # members of the signer union
    assert "playbooks.steps.approvals" in paths


def test_a_field_missing_from_the_doc_is_named() -> None:
    doc = DOC.read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `people` |"))
    without = doc.replace(row, row.replace("timezone", "zone"))
    assert "people.timezone" in undocumented(without)
