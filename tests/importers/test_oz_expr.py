"""OpenZeppelin Monitor expressions keep their meaning in breakglass: for generated typed
parameters and generated expressions over them, the translated breakglass expression and an
independent reading of the source semantics agree."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breakglass.detect.expr import compile_expression
from breakglass.importers.oz_expr import (
    Condition,
    Literal,
    Logical,
    Node,
    OzExpressionError,
    Path,
    evaluate,
    parse,
    path_type,
    render_path,
    translate,
)

TYPES = {
    "amount": "uint256",
    "delta": "int256",
    "who": "address",
    "memo": "string",
    "flag": "bool",
    "ids": "uint256[]",
    "tags": "string[]",
}

_SMALL = st.integers(min_value=0, max_value=40)
_TEXT = st.text(alphabet="aAbB0xZ", max_size=5)
_ADDRESS = st.builds(
    lambda tail, upper: "0x" + (tail.upper() if upper else tail),
    st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
    st.booleans(),
)

VALUES = st.fixed_dictionaries(
    {
        "amount": st.one_of(_SMALL, st.integers(min_value=0, max_value=2**256 - 1)),
        "delta": st.integers(min_value=-40, max_value=40),
        "who": _ADDRESS,
        "memo": _TEXT,
        "flag": st.booleans(),
        "ids": st.lists(_SMALL, max_size=4),
        "tags": st.lists(_TEXT, max_size=3),
    }
)

_ORDER = st.sampled_from(["==", "!=", ">", ">=", "<", "<="])
_TEXT_OP = st.sampled_from(["==", "!=", "contains", "starts_with", "ends_with"])


def _int_literal(negative: bool) -> st.SearchStrategy[Literal]:
    bound = -40 if negative else 0
    return st.builds(
        lambda n, hexed: Literal(
            "number", ("-" if n < 0 else "") + (hex(abs(n)) if hexed else str(abs(n)))
        ),
        st.integers(min_value=bound, max_value=40),
        st.booleans(),
    )


def _conditions(values: dict[str, Any]) -> st.SearchStrategy[Condition]:
    def near(text: str) -> st.SearchStrategy[str]:
        # Pieces of the real value, in any case, so that matches happen as often as misses.
        return st.one_of(
            _TEXT,
            st.builds(lambda i, j, up: text[i:j].upper() if up else text[i:j].lower(),
                      st.integers(0, len(text)), st.integers(0, len(text)), st.booleans()),
        )  # fmt: skip

    return st.one_of(
        st.builds(Condition, st.just(Path("amount")), _ORDER, _int_literal(False)),
        st.builds(Condition, st.just(Path("delta")), _ORDER, _int_literal(True)),
        st.builds(
            Condition,
            st.just(Path("who")),
            _TEXT_OP,
            near(values["who"]).map(lambda t: Literal("string", t)),
        ),
        st.builds(
            Condition,
            st.just(Path("memo")),
            _TEXT_OP,
            near(values["memo"]).map(lambda t: Literal("string", t)),
        ),
        st.builds(
            Condition,
            st.just(Path("flag")),
            st.sampled_from(["==", "!="]),
            st.sampled_from(["true", "false"]).map(lambda t: Literal("bool", t)),
        ),
        st.builds(
            Condition,
            st.just(Path("ids")),
            st.just("contains"),
            _SMALL.map(lambda n: Literal("number", str(n))),
        ),
        st.builds(
            Condition,
            st.just(Path("tags")),
            st.just("contains"),
            _TEXT.map(lambda t: Literal("string", t)),
        ),
    )


def _trees(values: dict[str, Any]) -> st.SearchStrategy[Node]:
    return st.recursive(
        _conditions(values),
        lambda inner: st.builds(Logical, st.sampled_from(["and", "or"]), inner, inner),
        max_leaves=6,
    )


def _source(node: Node) -> str:
    """Source text for ``node``; every Logical is parenthesised, so the parse is the tree."""
    if isinstance(node, Logical):
        return f"({_source(node.left)} {node.op.upper()} {_source(node.right)})"
    literal = node.literal
    text = f"'{literal.text}'" if literal.kind == "string" else literal.text
    return f"{node.path} {node.op} {text}"


def _name(path: Path) -> str:
    return render_path(path.base, path)


def _type(path: Path) -> str | None:
    return path_type(TYPES.get(path.base), path)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    # What a breakglass rule sees: addresses lowercased (detect.rules.yaml.common.plain).
    return {**values, "who": values["who"].lower()}


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_translation_keeps_the_meaning(data: st.DataObject) -> None:
    values = data.draw(VALUES)
    tree = data.draw(_trees(values))
    assert parse(_source(tree)) == tree
    typed = {name: (TYPES[name], value) for name, value in values.items()}
    expected = evaluate(tree, typed)
    translated = translate(tree, name_of=_name, type_of=_type)
    assert compile_expression(translated).evaluate(_plain(values)) is expected, translated


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AND binds tighter than OR.
        ("amount > 5 OR amount < 2 AND flag == true",
         "(amount > 5 or (amount < 2 and flag == True))"),
        ("(amount > 5 OR amount < 2) AND flag == false",
         "((amount > 5 or amount < 2) and flag == False)"),
        ("who == '0xAbCd000000000000000000000000000000000001'",
         "lower(who) == '0xabcd000000000000000000000000000000000001'"),
        ("memo starts_with \"Hi\" and memo ends_with 'x'",
         "(istarts_with(memo, 'Hi') and iends_with(memo, 'x'))"),
        ("ids[0] >= 0x10", "ids[0] >= 16"),
        ("tags contains 'ok'", "icontains(tags, 'ok')"),
        ("data.owner == 'Bob'", "lower(data['owner']) == 'bob'"),
        ("data.count > 3", "data['count'] > 3"),
    ],
)  # fmt: skip
def test_examples(text: str, expected: str) -> None:
    assert translate(parse(text), name_of=_name, type_of=_type) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("amount >", "unexpected end at column 9"),
        ("amount > AND", "expected a number, a quoted string, true or false at column 10"),
        ("amount > 5 AND", "unexpected end"),
        ("amount ~ 5", "unexpected '~' at column 8"),
        ("(amount > 5", "expected ')'"),
        ("flag > true", "> is not defined for bool"),
        ("amount contains 5", "contains is not defined for uint256"),
        ("amount == 'abc'", "uint256 compared with text"),
        ("ids == '[1]'", "only contains compares an array"),
    ],
)
def test_what_cannot_be_kept_is_refused_with_its_place(text: str, message: str) -> None:
    with pytest.raises(OzExpressionError, match=re.escape(message)):
        translate(parse(text), name_of=_name, type_of=_type)
