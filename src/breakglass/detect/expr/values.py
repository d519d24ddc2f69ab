"""Value semantics shared by the compiler and evaluation: exact numbers, addresses, builtins.

Arithmetic is exact. Integers stay Python ints; ``/`` and negative powers produce
``fractions.Fraction``; a Fraction whose denominator is 1 is turned back into an int so results
look like what a person wrote. Every operation checks its operand types first, so no string or
list can be multiplied into a memory bomb and ``%`` never means string formatting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sized
from fractions import Fraction
from typing import Any

__all__ = [
    "MAX_EXPONENT",
    "MAX_POWER_BITS",
    "EvalFailure",
    "normalise",
    "parse_decimal",
]

MAX_EXPONENT = 256
"""Largest absolute exponent ``**`` accepts."""

MAX_POWER_BITS = 8192
"""Largest ``bit_length(base) * |exponent|`` that ``**`` accepts."""

MAX_LITERAL_EXPONENT = 256
"""Largest absolute decimal exponent of a literal such as ``1e18``."""

_NUMBER = (int, Fraction, float)
_DECIMAL = re.compile(r"^(?P<mantissa>[0-9.]+)(?:[eE](?P<exponent>[+-]?[0-9]+))?$")


class EvalFailure(Exception):  # internal signal, never escapes the package
    """Raised inside evaluation; ``Expression.evaluate`` turns it into an ExpressionError."""


def parse_decimal(source: str) -> int | Fraction:
    """The exact value of a decimal literal such as ``1e18``, ``2.5e6`` or ``0.1``.

    Raises:
        EvalFailure: the literal is not decimal or its exponent is beyond the cap.
    """
    match = _DECIMAL.match(source.replace("_", ""))
    if match is None:
        raise EvalFailure(f"unsupported number literal {source!r}")
    exponent = match.group("exponent")
    if exponent is not None and abs(int(exponent)) > MAX_LITERAL_EXPONENT:
        raise EvalFailure(
            f"number literal {source!r} has an exponent beyond {MAX_LITERAL_EXPONENT}"
        )
    value = Fraction(source.replace("_", ""))
    return value.numerator if value.denominator == 1 else value


def simplify(value: Any) -> Any:
    """An integral Fraction as an int; anything else unchanged."""
    if type(value) is Fraction and value.denominator == 1:
        return value.numerator
    return value


def is_address(value: str) -> bool:
    """Whether a string looks like a 20-byte hex address (``0x`` and 40 more characters)."""
    return len(value) == 42 and value[:2] in ("0x", "0X")


def normalise(value: Any) -> Any:
    """Lowercase address strings so that comparisons and view keys ignore checksum case."""
    if isinstance(value, str) and is_address(value):
        return value.lower()
    return value


def equal(left: Any, right: Any) -> bool:
    """``==`` with addresses compared case-insensitively."""
    if left == right:
        return True
    return (
        isinstance(left, str)
        and isinstance(right, str)
        and len(left) == 42
        and len(right) == 42
        and left[:2] in ("0x", "0X")
        and right[:2] in ("0x", "0X")
        and left.lower() == right.lower()
    )


def not_equal(left: Any, right: Any) -> bool:
    """``!=`` with addresses compared case-insensitively."""
    return not equal(left, right)


def _numbers(symbol: str, left: Any, right: Any) -> None:
    if not (isinstance(left, _NUMBER) and isinstance(right, _NUMBER)):
        raise EvalFailure(
            f"unsupported operand types for {symbol}: "
            f"{type(left).__name__} and {type(right).__name__}"
        )


def add(left: Any, right: Any) -> Any:
    _numbers("+", left, right)
    return simplify(left + right)


def sub(left: Any, right: Any) -> Any:
    _numbers("-", left, right)
    return simplify(left - right)


def mul(left: Any, right: Any) -> Any:
    _numbers("*", left, right)
    return simplify(left * right)


def truediv(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int and right:
        quotient, remainder = divmod(left, right)
        return quotient if not remainder else Fraction(left, right)
    _numbers("/", left, right)
    if right == 0:
        raise EvalFailure("division by zero")
    if isinstance(left, float) or isinstance(right, float):
        return left / right
    return simplify(Fraction(left) / right)


def floordiv(left: Any, right: Any) -> Any:
    _numbers("//", left, right)
    if right == 0:
        raise EvalFailure("division by zero")
    return simplify(left // right)


def mod(left: Any, right: Any) -> Any:
    _numbers("%", left, right)
    if right == 0:
        raise EvalFailure("division by zero")
    return simplify(left % right)


def _bits(value: int | Fraction | float) -> int:
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return int(abs(value)).bit_length()


def power(base: Any, exponent: Any) -> Any:
    """``base ** exponent`` within the caps; a negative exponent gives an exact Fraction."""
    _numbers("**", base, exponent)
    exponent = simplify(exponent)
    if not isinstance(exponent, int):
        raise EvalFailure("the exponent of ** must be an integer")
    if abs(exponent) > MAX_EXPONENT:
        raise EvalFailure(f"the exponent of ** is limited to {MAX_EXPONENT}")
    if _bits(base) * abs(exponent) > MAX_POWER_BITS:
        raise EvalFailure(f"the result of ** is limited to {MAX_POWER_BITS} bits")
    if exponent < 0 and not isinstance(base, float):
        if base == 0:
            raise EvalFailure("division by zero")
        return simplify(Fraction(1) / Fraction(base) ** -exponent)
    return simplify(base**exponent)


def negate(value: Any) -> Any:
    if not isinstance(value, _NUMBER):
        raise EvalFailure(f"bad operand type for unary -: {type(value).__name__}")
    return -value


def positive(value: Any) -> Any:
    if not isinstance(value, _NUMBER):
        raise EvalFailure(f"bad operand type for unary +: {type(value).__name__}")
    return +value


def contains(value: Any, members: tuple[Any, ...]) -> bool:
    """``value in (members...)`` with address-insensitive equality."""
    return any(equal(value, member) for member in members)


def _abs(value: Any) -> Any:
    if not isinstance(value, _NUMBER):
        raise EvalFailure(f"abs() needs a number, not {type(value).__name__}")
    return abs(value)


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def builtin(*args: Any) -> Any:
        items = args
        if len(args) == 1:
            if not isinstance(args[0], list | tuple | set | frozenset):
                raise EvalFailure(f"{name}() with one argument needs a list")
            items = tuple(args[0])
        if not items:
            raise EvalFailure(f"{name}() of an empty list")
        return pick(items)

    return builtin


def _len(value: Any) -> int:
    if not isinstance(value, str | bytes | list | tuple | set | frozenset | Mapping):
        raise EvalFailure(f"len() of {type(value).__name__}")
    sized: Sized = value
    return len(sized)


def _lower(value: Any) -> str:
    if not isinstance(value, str):
        raise EvalFailure(f"lower() needs a string, not {type(value).__name__}")
    return value.lower()


def _matches(item: Any, needle: Any) -> bool:
    # One element against a needle the way OpenZeppelin Monitor's `contains` compares them,
    # so imported conditions keep their meaning: text ignores case, numbers compare by value.
    if isinstance(item, str):
        return item.lower() == (needle if isinstance(needle, str) else str(needle)).lower()
    if isinstance(item, bool) or isinstance(needle, bool):
        return item is needle or str(item).lower() == str(needle).lower()
    if isinstance(item, _NUMBER):
        if isinstance(needle, str):
            try:
                return bool(item == Fraction(needle.strip()))
            except (ValueError, ZeroDivisionError):
                return False
        return isinstance(needle, _NUMBER) and item == needle
    if isinstance(item, list | tuple | set | frozenset):
        return any(_matches(member, needle) for member in item)
    if isinstance(item, Mapping):
        return any(_matches(member, needle) for member in item.values())
    return item is None and needle is None


def _icontains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        text = needle if isinstance(needle, str) else str(needle)
        return text.lower() in haystack.lower()
    if isinstance(haystack, list | tuple | set | frozenset):
        return any(_matches(member, needle) for member in haystack)
    if isinstance(haystack, Mapping):
        return any(_matches(member, needle) for member in haystack.values())
    raise EvalFailure(f"icontains() needs a string, list or mapping, not {type(haystack).__name__}")


def _text_test(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def builtin(value: Any, part: Any) -> bool:
        if not (isinstance(value, str) and isinstance(part, str)):
            raise EvalFailure(f"{name}() needs two strings")
        return test(value.lower(), part.lower())

    return builtin


BUILTINS: Mapping[str, tuple[Callable[..., Any], int, int | None]] = {
    "abs": (_abs, 1, 1),
    "icontains": (_icontains, 2, 2),
    "iends_with": (_text_test("iends_with", str.endswith), 2, 2),
    "istarts_with": (_text_test("istarts_with", str.startswith), 2, 2),
    "len": (_len, 1, 1),
    "lower": (_lower, 1, 1),
    "max": (_extreme("max", max), 1, None),
    "min": (_extreme("min", min), 1, None),
}
"""Builtin name -> (function, fewest arguments, most arguments or None)."""
