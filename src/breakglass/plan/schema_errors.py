"""Turning pydantic validation errors into plan issues a person can act on.

The same translation serves the plan's own models and a rule type's ``params`` model (which
the plan keeps as a mapping until the rule is built): either way a mistake is named by its
field path, a union member that clearly does not fit is not reported, and a value that looks
like a secret is never repeated.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from breakglass.plan.issues import Path, PlanIssue, name_list, with_details
from breakglass.plan.models import Plan, Secret
from breakglass.plan.models.names import home_addresses
from breakglass.plan.secret_shapes import looks_secret
from breakglass.plan.source import Document

__all__ = ["describe_model_error", "translate_validation_error"]

_HIDDEN_TYPES = ("plan_secret_literal", "plan_secret_syntax", "extra_forbidden")
_ALL_FIELDS = 64
_SHAPE_TYPES = ("extra_forbidden", "missing", "model_type", "dict_type", "model_attributes_type")


@dataclass(frozen=True)
class _Problem:
    path: Path
    is_key: bool
    message: str
    expected: str | None
    found: str | None


def translate_validation_error(exc: ValidationError, doc: Document, file: str) -> list[PlanIssue]:
    """Every error of validating the whole plan, located in its file."""
    return [
        PlanIssue.at(
            file,
            problem.path,
            problem.message,
            doc.position(problem.path, key=problem.is_key),
            expected=problem.expected,
            found=problem.found,
        )
        for problem in _problems(exc, doc.data, Plan)
    ]


def describe_model_error(
    exc: ValidationError, data: Any, model: type[BaseModel]
) -> list[tuple[Path, str]]:
    """Each error of validating ``data`` against ``model`` (a rule's params, say) as the path
    inside ``data`` and a message with what was expected and found."""
    return [
        (problem.path, with_details(problem.message, problem.expected, problem.found))
        for problem in _problems(exc, data, model)
    ]


def _problems(exc: ValidationError, data: Any, root: type[BaseModel]) -> list[_Problem]:
    named = _named_keys(data)
    located = [_as_written(error, data, named) for error in exc.errors(include_url=False)]
    errors = _fitting_union_members(located, data)
    return [_translate(error, data, root) for error in errors]


def _named_keys(data: Any) -> dict[str, str]:
    """Per lower-case address, the contract or signer name the document may use for it."""
    if not isinstance(data, dict):
        return {}
    return {address.lower(): name for name, address in home_addresses(data).items()}


def _as_written(error: ErrorDetails, data: Any, named: dict[str, str]) -> ErrorDetails:
    """``error`` located as the document is written: a mapping key given as a name (an
    asset's price under ``weth:``) reaches the models as its address, and is put back, so
    its errors are placed, and told apart by union member, under the key the person wrote."""
    loc = list(error["loc"])
    node = data
    for index, written in enumerate(error["loc"]):
        part = written
        if isinstance(node, dict) and part not in node and isinstance(part, str):
            name = named.get(part.lower())
            if name is not None and name in node:
                loc[index] = part = name
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            break
        node = node[part]
    if loc == list(error["loc"]):
        return error
    return {**error, "loc": tuple(loc)}


def _union_member(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """Where a location enters a union member the document does not name (``StaticPrice``
    in ``price.StaticPrice.usd``), and that member; ``None`` outside unions."""
    node = data
    for index, part in enumerate(loc[:-1]):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(part, str):
            return loc[:index], part
    return None


def _fitting_union_members(errors: Iterable[ErrorDetails], data: Any) -> list[ErrorDetails]:
    """Only the errors of the union member that fits the input best.

    Pydantic reports a value that fits no member of ``A | B`` once per member; a price
    ``{feed: pool_feed}`` then gets "usd missing", "feed not permitted" (both from the
    static price it was never meant to be) and the one error that matters. The member with
    the fewest shape errors (unknown or missing fields, wrong container) is the one meant.
    """
    errors = list(errors)
    members: dict[tuple[Any, ...], dict[str, list[int]]] = {}
    for index, error in enumerate(errors):
        entry = _union_member(data, tuple(error["loc"]))
        if entry is not None:
            members.setdefault(entry[0], {}).setdefault(entry[1], []).append(index)

    def misfit(indexes: list[int]) -> tuple[int, int]:
        """How badly a member fits: its shape errors first, then all its errors."""
        shape = sum(1 for i in indexes if errors[i]["type"] in _SHAPE_TYPES)
        return shape, len(indexes)

    dropped: set[int] = set()
    for by_member in members.values():
        if len(by_member) < 2:
            continue
        best = min(by_member.values(), key=misfit)
        dropped.update(i for indexes in by_member.values() if indexes is not best for i in indexes)
    return [error for index, error in enumerate(errors) if index not in dropped]


def _translate(error: ErrorDetails, data: Any, root: type[BaseModel]) -> _Problem:
    loc = tuple(error["loc"])
    path, is_key = _document_path(data, loc)
    kind = error["type"]
    msg = error["msg"]
    expected: str | None = None
    found: str | None = None if kind in _HIDDEN_TYPES else _describe(error.get("input"))

    if kind in ("too_short", "too_long"):
        found = None
    if kind == "missing":
        field = str(loc[-1])
        message = f"missing required field {field!r}"
        found = None
    elif kind == "extra_forbidden":
        field = str(path[-1]) if path else str(loc[-1])
        allowed = sorted(_fields_at(loc[:-1], root))
        message = f"unknown field {field!r}"
        close = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        if allowed:
            expected = name_list(allowed, limit=_ALL_FIELDS)  # a model has few; show all
        is_key = True
    elif kind.startswith("union_tag"):
        message, expected, field = _union_tag(error)
        found = None
        if kind == "union_tag_invalid":
            path = (*path, field)
    elif (simple := _simple(kind)) is not None:
        message, expected = simple
    elif msg.startswith("Input should be "):
        message = "wrong type" if kind.endswith("_type") else "invalid value"
        expected = msg.removeprefix("Input should be ")
    elif msg.startswith("Value error, "):
        message = msg.removeprefix("Value error, ")
    elif kind.startswith("plan_"):
        message = "invalid value"
        expected = msg
        if kind.startswith("plan_secret"):
            found = "a literal value (not shown)" if kind == "plan_secret_literal" else None
    else:
        message = msg[0].lower() + msg[1:] if msg else kind

    if _is_secret_field(loc, root):
        found = "a literal value (not shown)" if found else None
        if not kind.startswith("plan_secret"):
            message, expected = "invalid value", "an environment reference such as ${MY_SECRET}"
    elif found is not None and _holds_secret(error.get("input")):
        found = "a value that looks like a secret (not shown)"
    return _Problem(path, is_key, message, expected, found)


def _holds_secret(value: Any) -> bool:
    """True when ``value``, or a string inside it, looks like a secret."""
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return looks_secret(value)


_INDENT_HINT = "a mapping of fields (is this line indented correctly?)"
_SIMPLE = {
    "bool_type": ("wrong type", "true or false"),
    "bool_parsing": ("wrong type", "true or false"),
    "model_type": ("wrong type", _INDENT_HINT),
    "dict_type": ("wrong type", _INDENT_HINT),
    "model_attributes_type": ("wrong type", _INDENT_HINT),
}


def _simple(kind: str) -> tuple[str, str] | None:
    if kind.startswith("date"):
        return "invalid date", "a date written YYYY-MM-DD, such as 2026-11-23"
    return _SIMPLE.get(kind)


def _union_tag(error: ErrorDetails) -> tuple[str, str | None, str]:
    """Message, expected tags and tag field for a discriminated union with a bad tag."""
    ctx = error.get("ctx") or {}
    field = str(ctx.get("discriminator", "type")).strip("'")
    tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
    expected = "one of: " + ", ".join(tags) if tags else None
    if error["type"] != "union_tag_invalid":
        return f"missing required field {field!r}", expected, field
    tag = str(ctx.get("tag", ""))
    message = f"unknown {field} {tag!r}"
    close = difflib.get_close_matches(tag, tags, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message, expected, field


def _document_path(data: Any, loc: tuple[Any, ...]) -> tuple[Path, bool]:
    """Map a pydantic location onto the document.

    Parts the document does not have are union tags and validator names, skipped, except a
    last part, which names a missing field and is kept so the message can say which.
    """
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if part == "[key]" and not (isinstance(node, dict) and part in node):
            return tuple(path), True
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif index == len(loc) - 1:
            node = None
        else:
            continue
        path.append(part)
    return tuple(path), False


def _describe(value: Any) -> str | None:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Annotated, Optional and unions."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    for candidate in _unwrap(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str) and part in candidate.model_fields:
                return candidate.model_fields[part].annotation
        elif origin is dict:
            return typing.get_args(candidate)[1]
        elif origin is list:
            return typing.get_args(candidate)[0]
    # a union member's name (``PriceSource``, or ``function-after[..., PriceSource]`` when
    # it has a validator) or a discriminated-union tag names the member to follow
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            name = candidate.__name__
            if isinstance(part, str) and (part == name or part.endswith(f", {name}]")):
                return candidate
            for tag_field in ("action", "type"):
                field = candidate.model_fields.get(tag_field)
                if field is not None and part in typing.get_args(field.annotation):
                    return candidate
    return None


def _is_secret_field(loc: tuple[Any, ...], root: type[BaseModel]) -> bool:
    """True when ``loc`` is a field holding a secret: its input must never be echoed."""
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return False
    return any(candidate is Secret for candidate in _unwrap(annotation))


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> set[str]:
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return set()
    return {
        name
        for candidate in _unwrap(annotation)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel)
        for name in candidate.model_fields
    }
