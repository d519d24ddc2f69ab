"""Property tests of the expression language (hypothesis)."""

from __future__ import annotations

import contextlib
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from breakglass.detect.expr import ExpressionError, compile_expression

NAMES = ("a", "b", "c")
ARITHMETIC = ("+", "-", "*", "//", "%")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

ints = st.integers(min_value=-(2**70), max_value=2**70)
envs = st.fixed_dictionaries({name: ints for name in NAMES})


def _combine(
    children: st.SearchStrategy[str], operators: tuple[str, ...]
) -> st.SearchStrategy[str]:
    def wrap(text: str, parens: bool) -> str:
        return f"({text})" if parens else text

    binary = st.builds(
        lambda left, op, right, p1, p2: f"{wrap(left, p1)} {op} {wrap(right, p2)}",
        children,
        st.sampled_from(operators),
        children,
        st.booleans(),
        st.booleans(),
    )
    chained = st.builds(
        lambda first, ops, rest: (
            first + "".join(f" {op} ({r})" for op, r in zip(ops, rest, strict=False))
        ),
        children.map(lambda t: f"({t})"),
        st.lists(st.sampled_from(COMPARISONS), min_size=2, max_size=3),
        st.lists(children, min_size=3, max_size=3),
    )
    return st.one_of(
        binary,
        chained,
        children.map(lambda t: f"-({t})"),
        children.map(lambda t: f"not ({t})"),
        st.builds(lambda t, e: f"({t}) ** {e}", children, st.integers(0, 3)),
        st.builds(lambda x, y: f"({x}) and ({y})", children, children),
        st.builds(lambda x, y: f"({x}) or ({y})", children, children),
        st.builds(lambda x, c, y: f"({x}) if ({c}) else ({y})", children, children, children),
    )


def _expressions(operators: tuple[str, ...], literals: bool) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(NAMES)
    if literals:
        leaves = leaves | st.integers(0, 10**20).map(str)
    return st.recursive(leaves, lambda children: _combine(children, operators), max_leaves=12)


def _ours(text: str, env: dict[str, object]) -> tuple[bool, object]:
    """(raised, value or reason) for breakglass on ``text``."""
    try:
        return False, compile_expression(text).evaluate(env)
    except ExpressionError as exc:
        assume("limited to" not in exc.reason)  # our resource caps; Python has none
        return True, exc.reason


def _python(text: str, env: dict[str, object]) -> tuple[bool, object]:
    try:
        return False, eval(text, {"__builtins__": {}}, dict(env))  # the oracle
    except (ZeroDivisionError, SyntaxError) as exc:  # both must fail for ours too
        return True, str(exc)


@settings(max_examples=400, deadline=None)
@given(_expressions(ARITHMETIC + COMPARISONS, literals=True), envs)
def test_integer_arithmetic_agrees_with_python(text, env):
    ours = _ours(text, env)
    python = _python(text, env)
    assert ours[0] == python[0], (text, ours, python)
    if not ours[0]:
        assert ours[1] == python[1]
        assert type(ours[1]) is type(python[1]) or {type(ours[1]), type(python[1])} <= {int, bool}


@settings(max_examples=400, deadline=None)
@given(_expressions((*ARITHMETIC, "/"), literals=False), envs)
def test_exact_division_agrees_with_fractions(text, env):
    ours = _ours(text, env)
    python = _python(text, {name: Fraction(value) for name, value in env.items()})
    assert ours[0] == python[0], (text, ours, python)
    if not ours[0]:
        assert ours[1] == python[1]


TOKENS = [
    "a", "b", "args", ".", "value", "[", "]", "(", ")", "0", "1", "1e18", "2.5", "-", "+", "*",
    "/", "//", "%", "**", "<", "==", "!=", ">=", "and", "or", "not", "in", "if", "else", ",",
    "'0xAbababababababababababababababababababAB'", "'x'", "abs", "min", "max", "len", "lower",
    "f", "lambda", ":", "__class__", "{", "}", "True", "None", "is", "@", "=", "~",
]  # fmt: skip

values = st.recursive(
    st.none() | st.booleans() | ints | st.text(max_size=5) | st.fractions(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["value", "x"]), inner)
    ),
    max_leaves=5,
)


@settings(max_examples=600, deadline=None)
@given(
    st.text(max_size=40) | st.lists(st.sampled_from(TOKENS), max_size=20).map(" ".join),
    st.dictionaries(st.sampled_from(["a", "b", "args"]), values),
    values,
)
def test_random_text_only_raises_expression_error(text, env, view_value):
    try:
        expression = compile_expression(text)
    except ExpressionError:
        return
    views = {}
    with contextlib.suppress(ExpressionError):
        views = {key: view_value for key in expression.view_keys(env)}
    with contextlib.suppress(ExpressionError):
        expression.evaluate(env, views)


@st.composite
def _tracked(draw: st.DrawFn, depth: int = 0) -> tuple[str, frozenset[str], frozenset[str]]:
    """(text, names, view texts) of a random expression with names and view calls."""
    kind = draw(
        st.sampled_from(["name", "path", "const", "view", "view_arg"] + ["op"] * (depth < 3))
    )
    if kind == "name":
        name = draw(st.sampled_from(["a", "b", "pool"]))
        return name, frozenset({name}), frozenset()
    if kind == "path":
        return "args.value", frozenset({"args"}), frozenset()
    if kind == "const":
        return str(draw(st.integers(0, 99))), frozenset(), frozenset()
    if kind == "view":
        call = draw(st.sampled_from(["totalAssets()", "totalSupply()", "vault.price()"]))
        return call, frozenset(), frozenset({call})
    if kind == "view_arg":
        arg = draw(st.sampled_from(["a", "args.to", "pool"]))
        call = f"balanceOf({arg})"
        return call, frozenset({arg.split(".")[0]}), frozenset({call})
    left = draw(_tracked(depth + 1))
    right = draw(_tracked(depth + 1))
    op = draw(st.sampled_from(["+", "*", "<", "and", "or"]))
    return f"({left[0]}) {op} ({right[0]})", left[1] | right[1], left[2] | right[2]


@given(_tracked())
def test_names_and_views_are_exactly_those_in_the_text(tracked):
    text, names, views = tracked
    first = compile_expression(text)
    second = compile_expression(text)
    assert first.names == second.names == names
    assert [v.text for v in first.views] == [v.text for v in second.views]
    assert {v.text for v in first.views} == views
    assert len(first.views) == len(views)
