"""OpenZeppelin Monitor's condition expressions, parsed and translated to breakglass ones.

The source language: conditions ``path OP literal`` joined by ``AND`` and ``OR`` (``AND``
binds tighter) with parentheses; ``OP`` is ``== != > >= < <=``, ``contains``, ``starts_with``
or ``ends_with``; a path is a parameter (by name, or by position as ``0``) followed by
``.key`` and ``[index]`` accessors; literals are numbers (decimal or ``0x`` hex, maybe
negative), quoted strings and ``true``/``false``.

Its meaning depends on the type of the value: integers compare by value, addresses and text
ignore case, arrays ``contains`` an element. :func:`translate` emits, for each condition, the
breakglass expression with that meaning given the parameter's ABI type (``lower(...)`` for
text, the ``icontains``/``istarts_with``/``iends_with`` builtins), and :func:`evaluate` is an
independent reading of the source semantics, so a test can hold the two equal.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from breakglass.errors import PlanError

__all__ = [
    "Condition",
    "Literal",
    "Logical",
    "Node",
    "OzExpressionError",
    "Path",
    "evaluate",
    "parse",
    "path_type",
    "render_path",
    "safe_name",
    "translate",
]

_ORDER_OPS = frozenset({">", ">=", "<", "<="})
_TEXT_OPS = {"contains": "icontains", "starts_with": "istarts_with", "ends_with": "iends_with"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?))
  | (?P<op>==|!=|>=|<=|>|<)
  | (?P<punct>[()\[\].])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


class OzExpressionError(PlanError):
    """An OpenZeppelin Monitor expression that cannot be parsed or kept with its meaning."""


@dataclass(frozen=True)
class Path:
    base: str
    accessors: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        text = self.base
        for accessor in self.accessors:
            text += f"[{accessor}]" if isinstance(accessor, int) else f".{accessor}"
        return text


@dataclass(frozen=True)
class Literal:
    kind: str  # number, string or bool
    text: str  # as written, without quotes for strings


@dataclass(frozen=True)
class Condition:
    path: Path
    op: str
    literal: Literal


@dataclass(frozen=True)
class Logical:
    op: str  # and, or
    left: Node
    right: Node


Node = Condition | Logical


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise OzExpressionError(
                f"unexpected {text[position]!r} at column {position + 1} in {text!r}"
            )
        kind = match.lastgroup or ""
        if kind != "space":
            found.append((kind, match.group(), position + 1))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def fail(self, message: str) -> OzExpressionError:
        column = self.tokens[self.at][2] if self.at < len(self.tokens) else len(self.text) + 1
        return OzExpressionError(f"{message} at column {column} in {self.text!r}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.at += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.keyword("OR"):
            node = Logical("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.atom()
        while self.keyword("AND"):
            node = Logical("and", node, self.atom())
        return node

    def atom(self) -> Node:
        token = self.peek()
        if token is not None and token[1] == "(":
            self.take()
            node = self.disjunction()
            if (closing := self.peek()) is None or closing[1] != ")":
                raise self.fail("expected ')'")
            self.take()
            return node
        return self.condition()

    def condition(self) -> Condition:
        path = self.path()
        kind, op, _ = self.take()
        if kind == "word" and op.lower() in _TEXT_OPS:
            op = op.lower()
        elif kind != "op":
            self.at -= 1
            raise self.fail(f"expected an operator after {path}")
        return Condition(path, op, self.literal())

    def path(self) -> Path:
        kind, base, _ = self.take()
        if kind not in ("word", "number") or (kind == "number" and not base.isdigit()):
            self.at -= 1
            raise self.fail("expected a parameter name")
        accessors: list[str | int] = []
        while (token := self.peek()) is not None and token[1] in (".", "["):
            self.take()
            if token[1] == ".":
                kind, key, _ = self.take()
                if kind not in ("word", "number"):
                    raise self.fail("expected a key after '.'")
                accessors.append(key)
            else:
                kind, index, _ = self.take()
                if kind != "number" or not index.isdigit() or self.take()[1] != "]":
                    raise self.fail("expected [index]")
                accessors.append(int(index))
        return Path(base, tuple(accessors))

    def literal(self) -> Literal:
        kind, text, _ = self.take()
        if kind == "string":
            return Literal("string", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "number":
            return Literal("number", text)
        if kind == "word" and text.lower() in ("true", "false"):
            return Literal("bool", text.lower())
        self.at -= 1
        raise self.fail("expected a number, a quoted string, true or false")


def parse(text: str) -> Node:
    """The syntax tree of an OpenZeppelin Monitor expression.

    Raises:
        OzExpressionError: with the column of the offending token.
    """
    return _Parser(text).parse()


def safe_name(name: str) -> str:
    """A parameter name usable in a breakglass expression (``from`` is a Python keyword)."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("__"):
        return name + "_"
    return name


# -- translation --------------------------------------------------------------------------

TypeOf = Callable[[Path], str | None]
"""The ABI type of a path's value (``uint256``, ``address``, ``string[]``, ...), if known."""


def _number(literal: Literal) -> int:
    text = literal.text
    negative = text.startswith("-")
    digits = text.lstrip("-")
    try:
        value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    except ValueError:
        raise OzExpressionError(f"{text} is not an integer") from None
    return -value if negative else value


def _decimal(text: str) -> Decimal | None:
    try:
        if text.lstrip("-")[:2].lower() == "0x":
            return Decimal(int(text.lstrip("-"), 16)) * (-1 if text.startswith("-") else 1)
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


def _family(abi_type: str | None) -> str:
    if abi_type is None:
        return "unknown"
    if abi_type.endswith("]"):
        return "array"
    if abi_type.startswith(("uint", "int")):
        return "integer"
    if abi_type == "bool":
        return "bool"
    if abi_type == "address":
        return "address"
    return "text"  # string, bytes, bytesN


def path_type(base_type: str | None, path: Path) -> str | None:
    """The ABI type of the value ``path`` reads, from its base's type (arrays keep theirs
    through ``[i]``; a key into a tuple or mapping has no ABI type here)."""
    abi_type = base_type
    for accessor in path.accessors:
        if abi_type is not None and abi_type.endswith("]") and isinstance(accessor, int):
            abi_type = abi_type[: abi_type.rindex("[")]
        else:
            abi_type = None
    return abi_type


def render_path(root: str, path: Path) -> str:
    """``root`` (the breakglass name of the base) with ``path``'s accessors as subscripts."""
    return root + "".join(
        f"[{accessor}]" if isinstance(accessor, int) else f"[{accessor!r}]"
        for accessor in path.accessors
    )


def translate(node: Node, *, name_of: Callable[[Path], str], type_of: TypeOf) -> str:
    """The breakglass expression with ``node``'s meaning.

    Args:
        name_of: the breakglass path for a source path (e.g. ``from`` -> ``tx["from"]``).
        type_of: the ABI type of the value a path reads.

    Raises:
        OzExpressionError: a comparison the source language does not define for that type.
    """
    if isinstance(node, Logical):
        left = translate(node.left, name_of=name_of, type_of=type_of)
        right = translate(node.right, name_of=name_of, type_of=type_of)
        return f"({left} {node.op} {right})"
    return _condition(node, name_of(node.path), type_of(node.path))


def _condition(node: Condition, target: str, abi_type: str | None) -> str:
    op, literal = node.op, node.literal
    family = _family(abi_type)
    if family == "unknown":  # a value inside a tuple or mapping: its JSON kind decides
        family = {"number": "integer", "bool": "bool"}.get(literal.kind, "text")
    where = f"{node.path} {op} {literal.text!r}"
    if op in _TEXT_OPS:
        if family in ("integer", "bool"):
            raise OzExpressionError(f"{op} is not defined for {abi_type}: {where}")
        if family == "array" and op != "contains":
            raise OzExpressionError(f"{op} is not defined for arrays: {where}")
        return f"{_TEXT_OPS[op]}({target}, {literal.text!r})"
    if family == "array":
        raise OzExpressionError(f"only contains compares an array here: {where}")
    if family == "integer":
        if literal.kind != "number" and not (literal.kind == "string" and _decimal(literal.text)):
            raise OzExpressionError(f"{abi_type or 'a number'} compared with text: {where}")
        if "." in literal.text:
            return f"{target} {op} {literal.text}"
        return f"{target} {op} {_number(literal)}"
    if op in _ORDER_OPS:
        raise OzExpressionError(f"{op} is not defined for {abi_type or literal.kind}: {where}")
    if family == "bool":
        if literal.text.lower() not in ("true", "false"):
            raise OzExpressionError(f"a bool compared with {literal.text!r}: {where}")
        return f"{target} {op} {literal.text.lower() == 'true'}"
    return f"lower({target}) {op} {literal.text.lower()!r}"


# -- the source semantics, read independently -----------------------------------------------


def evaluate(node: Node, values: Mapping[str, tuple[str, Any]]) -> bool:
    """``node`` over ``values`` (name -> (ABI type, value)) as OpenZeppelin Monitor reads it;
    the reference the translation is tested against."""
    if isinstance(node, Logical):
        left = evaluate(node.left, values)
        if node.op == "and":
            return left and evaluate(node.right, values)
        return left or evaluate(node.right, values)
    base_type, value = values[node.path.base]
    for accessor in node.path.accessors:
        value = value[accessor]
    return _compare(_family(path_type(base_type, node.path)), value, node.op, node.literal)


def _compare(family: str, value: Any, op: str, literal: Literal) -> bool:
    if family == "unknown":
        family = {"number": "integer", "bool": "bool"}.get(literal.kind, "text")
    text = literal.text
    if family == "array":
        return any(_element_matches(item, text) for item in value)
    if family == "integer":
        left, right = Decimal(value), _decimal(text)
        assert right is not None
        return {
            "==": left == right,
            "!=": left != right,
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
        }[op]
    if family == "bool":
        return (str(value).lower() == text.lower()) == (op == "==")
    left_text, right_text = str(value).lower(), text.lower()
    return {
        "==": left_text == right_text,
        "!=": left_text != right_text,
        "contains": right_text in left_text,
        "starts_with": left_text.startswith(right_text),
        "ends_with": left_text.endswith(right_text),
    }[op]


def _element_matches(item: Any, text: str) -> bool:
    if isinstance(item, bool):
        return str(item).lower() == text.lower()
    if isinstance(item, int):
        try:  # a plain decimal only: a hex needle is compared as text, and misses
            return Decimal(text) == Decimal(item)
        except InvalidOperation:
            return False
    if isinstance(item, list):
        return any(_element_matches(member, text) for member in item)
    return str(item).lower() == text.lower()
