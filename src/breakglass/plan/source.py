"""Reading a plan file safely: size and encoding guards, YAML with positions.

The YAML is parsed with YAML 1.2 booleans (``on:``, ``yes`` and ``no`` stay strings, so a
playbook's ``on:`` key is not read as ``True``), duplicate keys are errors, and every node's
position is kept so that later errors can point at a line and column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from breakglass.plan.issues import Path, PlanIssue, format_path

__all__ = ["MAX_PLAN_BYTES", "MAX_PLAN_NODES", "Document", "parse_document", "read_plan_text"]

MAX_PLAN_BYTES = 2 * 1024 * 1024
"""A real plan is tens of kilobytes; anything this large is a wrong file."""

MAX_PLAN_DEPTH = 64
"""A real plan nests a handful of levels; the YAML composer recurses once per level."""

MAX_PLAN_NODES = 100_000
"""Bound on the document once aliases are expanded (guards against alias bombs)."""

MAX_INT_CHARS = 4300
"""Python refuses to read longer integers (CVE-2020-10735); a uint256 has 78 digits."""

_SCALARS = yaml.constructor.SafeConstructor()
_YAML_TAG = "tag:yaml.org,2002:"


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster


class _PlanYamlLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader with YAML 1.2 booleans."""


_PlanYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass
class Document:
    """Parsed YAML plus where each value (and each mapping key) stands in the file."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int] | None:
        """Line and column (1-based) of ``path``, or of its nearest ancestor that exists."""
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        for cut in range(len(path) - 1, -1, -1):
            if path[:cut] in self.values:
                return self.values[path[:cut]]
        return None


def read_plan_text(path: FsPath) -> str | PlanIssue:
    """Read a plan file as text, or say why it cannot be a plan."""
    name = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            return PlanIssue(file=name, path="(file)", message="is a directory, not a plan file")
        if size > MAX_PLAN_BYTES:
            return PlanIssue(
                file=name,
                path="(file)",
                message=f"is {size / 1_048_576:.1f} MiB; a plan file is at most "
                f"{MAX_PLAN_BYTES // 1_048_576} MiB",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        return PlanIssue(file=name, path="(file)", message="no such file")
    except OSError as exc:
        return PlanIssue(file=name, path="(file)", message=f"cannot be read: {exc.strerror}")
    if b"\x00" in raw:
        return PlanIssue(file=name, path="(file)", message="is a binary file, not YAML text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return PlanIssue(
            file=name,
            path="(file)",
            message=f"is not UTF-8 text (bad byte at offset {exc.start})",
        )


def parse_document(text: str, file: str) -> Document | list[PlanIssue]:
    """Parse YAML text into a :class:`Document`, or return the problems found."""
    loader: _PlanYamlLoader | None = None
    try:
        loader = _PlanYamlLoader(text)
        if _max_depth(text) > MAX_PLAN_DEPTH:
            return [
                PlanIssue(
                    file=file,
                    path="(file)",
                    message=f"is nested more than {MAX_PLAN_DEPTH} levels deep",
                )
            ]
        node = loader.get_single_node()
        if node is None:
            return [PlanIssue(file=file, path="(file)", message="is empty")]
        issues: list[PlanIssue] = []
        doc = Document(data=None)
        _index(node, (), doc, issues, file, set())
        if issues:
            return issues
        if (size := _expanded_size(node, {})) > MAX_PLAN_NODES:
            return [
                PlanIssue(
                    file=file,
                    path="(file)",
                    message=f"expands to {size} values through aliases; at most "
                    f"{MAX_PLAN_NODES} are allowed",
                )
            ]
        doc.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        line_text = (
            text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        )
        message += _yaml_hint(message, line_text)
        return [
            PlanIssue(
                file=file,
                path="(file)",
                message=f"invalid YAML: {message}",
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        ]
    except yaml.YAMLError as exc:
        return [PlanIssue(file=file, path="(file)", message=f"invalid YAML: {exc}")]
    except RecursionError:
        return [PlanIssue(file=file, path="(file)", message="is nested too deeply")]
    finally:
        if loader is not None:
            loader.dispose()
    return doc


def _yaml_hint(message: str, line_text: str) -> str:
    if "tab" in message or line_text[: len(line_text) - len(line_text.lstrip())].count("\t"):
        return " (YAML indents with spaces only; replace the tab)"
    if "mapping values are not allowed" in message:
        return " (a value containing ': ' must be quoted, or a line is indented wrongly)"
    if "could not find expected ':'" in message or "expected <block end>" in message:
        return " (check the indentation of this line and the one above)"
    return ""


def _max_depth(text: str) -> int:
    """Nesting depth from the event stream, which PyYAML parses without recursion."""
    depth = deepest = 0
    for event in yaml.parse(text, Loader=_PlanYamlLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_PLAN_DEPTH:
                break
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return deepest


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _index(
    node: yaml.Node,
    path: Path,
    doc: Document,
    issues: list[PlanIssue],
    file: str,
    seen: set[int],
) -> None:
    doc.values.setdefault(path, _mark(node))
    if id(node) in seen:  # an alias: its insides are indexed where the anchor stands
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[object, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key: str | int = key_node.value
            if key == "<<":
                continue
            if key in first_seen:
                line, col = _mark(key_node)
                issues.append(
                    PlanIssue(
                        file=file,
                        path=format_path((*path, key)),
                        message=f"duplicate key {key!r} (first defined on line "
                        f"{_mark(first_seen[key])[0]})",
                        line=line,
                        column=col,
                    )
                )
                continue
            first_seen[key] = key_node
            doc.keys.setdefault((*path, key), _mark(key_node))
            _index(value_node, (*path, key), doc, issues, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*path, index), doc, issues, file, seen)
    elif isinstance(node, yaml.ScalarNode) and (problem := _scalar_problem(node)):
        line, col = _mark(node)
        issues.append(
            PlanIssue(file=file, path=format_path(path), message=problem, line=line, column=col)
        )


def _scalar_problem(node: yaml.ScalarNode) -> str | None:
    """Why an unquoted number or date cannot be read, before the constructor raises on it."""
    text = str(node.value)
    if node.tag == f"{_YAML_TAG}int" and len(text) > MAX_INT_CHARS:
        return f"an integer of {len(text)} digits; at most {MAX_INT_CHARS} are read"
    try:
        if node.tag == f"{_YAML_TAG}float":
            if not math.isfinite(_SCALARS.construct_yaml_float(node)):
                return f"{text[:40]} is not a finite number"
        elif node.tag == f"{_YAML_TAG}timestamp":
            _SCALARS.construct_yaml_timestamp(node)
    except (ValueError, OverflowError) as exc:
        return f"{text[:40]} is not a valid date or time ({exc})"
    return None


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # breaks cycles from recursive aliases
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    memo[id(node)] = size
    return size
