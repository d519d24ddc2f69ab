"""The safe expression language of detection rules.

``compile_expression(text)`` parses with ``ast.parse`` and accepts only a whitelist of
constructs; the result evaluates by calling closures, never ``eval``. Numbers are exact (ints
and Fractions), addresses compare case-insensitively, and view calls such as
``totalAssets()`` read values the rule fetched in one batch. See docs/expressions.md.
"""

from __future__ import annotations

from breakglass.detect.expr.compiler import MAX_DEPTH, MAX_LENGTH, compile_expression
from breakglass.detect.expr.errors import ExpressionError
from breakglass.detect.expr.expression import Expression, ViewCall, ViewKey
from breakglass.detect.expr.values import MAX_EXPONENT, MAX_POWER_BITS

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_POWER_BITS",
    "Expression",
    "ExpressionError",
    "ViewCall",
    "ViewKey",
    "compile_expression",
]
