"""Closure factories: each returns the evaluator of one kind of node.

Closures, not an interpreter loop over nodes: every node's work is decided at compile time, so
evaluating is a handful of Python calls. Hot paths (int arithmetic, comparing a value with a
constant) skip the type checks of ``values`` when the operands are plain ints.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from breakglass.detect.expr.expression import Evaluator, ViewKey
from breakglass.detect.expr.values import (
    EvalFailure,
    contains,
    equal,
    normalise,
    not_equal,
    truediv,
)

__all__ = [
    "binop",
    "boolop",
    "call",
    "chain",
    "compare",
    "compare_quotient",
    "conditional",
    "constant",
    "item",
    "member_of",
    "name",
    "unary",
    "view",
]

Env = Mapping[str, Any]
Views = Mapping[ViewKey, Any]
Binary = Callable[[Any, Any], Any]


def constant(value: Any) -> Evaluator:
    def fn(env: Env, views: Views) -> Any:
        return value

    return fn


def name(root: str) -> Evaluator:
    def fn(env: Env, views: Views) -> Any:
        return env[root]

    return fn


def item(inner: Evaluator, key: Any, root: str | None) -> Evaluator:
    """``inner[key]``; when ``root`` is given, ``inner`` is that name and is read directly."""
    if root is not None:

        def from_name(env: Env, views: Views) -> Any:
            return env[root][key]

        return from_name

    def fn(env: Env, views: Views) -> Any:
        return inner(env, views)[key]

    return fn


def binop(fast: Binary | None, slow: Binary, left: Evaluator, right: Evaluator) -> Evaluator:
    """An arithmetic operator: ``fast`` when both operands are ints, else the checked ``slow``."""
    if fast is None:

        def checked(env: Env, views: Views) -> Any:
            return slow(left(env, views), right(env, views))

        return checked

    def fn(env: Env, views: Views) -> Any:
        a = left(env, views)
        b = right(env, views)
        if type(a) is int and type(b) is int:
            return fast(a, b)
        return slow(a, b)

    return fn


def unary(op: Callable[[Any], Any], operand: Evaluator) -> Evaluator:
    def fn(env: Env, views: Views) -> Any:
        return op(operand(env, views))

    return fn


def member_of(value: Any, members: Any) -> bool:
    return contains(value, members)


def not_member_of(value: Any, members: Any) -> bool:
    return not contains(value, members)


ORDERING: Mapping[str, Binary] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
COMPARISONS: Mapping[str, Binary] = {
    **ORDERING,
    "==": equal,
    "!=": not_equal,
    "in": member_of,
    "not in": not_member_of,
}


def compare(
    symbol: str, left: Evaluator, right: Evaluator, right_value: Any, right_const: bool
) -> Evaluator:
    """One comparison, specialised when its right side is a constant."""
    op = COMPARISONS[symbol]
    if right_const and symbol in ORDERING:

        def with_constant(env: Env, views: Views) -> Any:
            return op(left(env, views), right_value)

        return with_constant
    if right_const and symbol in ("==", "!=") and not isinstance(right_value, str):
        plain = operator.eq if symbol == "==" else operator.ne

        def plain_constant(env: Env, views: Views) -> Any:
            return plain(left(env, views), right_value)

        return plain_constant
    if right_const and symbol in ("in", "not in"):
        return _membership(symbol == "in", left, right_value)

    def fn(env: Env, views: Views) -> Any:
        return op(left(env, views), right(env, views))

    return fn


def _membership(positive: bool, left: Evaluator, members: tuple[Any, ...]) -> Evaluator:
    lookup = frozenset(normalise(member) for member in members)

    def fn(env: Env, views: Views) -> bool:
        value = left(env, views)
        try:
            found = normalise(value) in lookup
        except TypeError:  # unhashable: fall back to comparing one by one
            found = contains(value, members)
        return found is positive

    return fn


def chain(left: Evaluator, steps: list[tuple[Binary, Evaluator]]) -> Evaluator:
    """``a < b <= c ...``: each operand evaluated at most once, stopping at the first false."""

    def fn(env: Env, views: Views) -> Any:
        a = left(env, views)
        for op, right in steps:
            b = right(env, views)
            if not op(a, b):
                return False
            a = b
        return True

    return fn


def boolop(is_and: bool, operands: list[Evaluator]) -> Evaluator:
    """``and`` / ``or`` with Python's semantics: the deciding operand is the result."""
    first, *rest = operands
    if len(rest) == 1:
        (second,) = rest
        if is_and:

            def both(env: Env, views: Views) -> Any:
                value = first(env, views)
                return second(env, views) if value else value

            return both

        def either(env: Env, views: Views) -> Any:
            value = first(env, views)
            return value if value else second(env, views)

        return either

    def fn(env: Env, views: Views) -> Any:
        value = first(env, views)
        for operand in rest:
            if bool(value) is not is_and:
                return value
            value = operand(env, views)
        return value

    return fn


def conditional(test: Evaluator, body: Evaluator, orelse: Evaluator) -> Evaluator:
    def fn(env: Env, views: Views) -> Any:
        return body(env, views) if test(env, views) else orelse(env, views)

    return fn


def call(function: Callable[..., Any], args: list[Evaluator]) -> Evaluator:
    if len(args) == 1:
        (only,) = args

        def one(env: Env, views: Views) -> Any:
            return function(only(env, views))

        return one

    def fn(env: Env, views: Views) -> Any:
        return function(*[arg(env, views) for arg in args])

    return fn


def view(view_name: str, text: str, args: list[Evaluator]) -> Evaluator:
    """A view call's value, read from the ``views`` mapping the rule fetched."""
    if not args:
        key: ViewKey = (view_name, ())

        def fixed(env: Env, views: Views) -> Any:
            try:
                return views[key]
            except KeyError:
                raise EvalFailure(f"view {text} was not fetched") from None

        return fixed

    def fn(env: Env, views: Views) -> Any:
        key = (view_name, tuple(normalise(arg(env, views)) for arg in args))
        try:
            return views[key]
        except KeyError:
            raise EvalFailure(f"view {text} was not fetched (key {key!r})") from None

    return fn


def compare_quotient(
    symbol: str, left: Evaluator, numerator: Evaluator, denominator: Evaluator
) -> Evaluator:
    """``a <op> n / d`` without building a Fraction: for ints and ``d > 0`` it is ``a*d <op> n``."""
    op = COMPARISONS[symbol]

    def fn(env: Env, views: Views) -> Any:
        a = left(env, views)
        n = numerator(env, views)
        d = denominator(env, views)
        if type(a) is int and type(n) is int and type(d) is int and d > 0:
            return op(a * d, n)
        return op(a, truediv(n, d))

    return fn
