"""The one error the expression language raises."""

from __future__ import annotations

from breakglass.errors import BreakglassError

__all__ = ["ExpressionError"]


class ExpressionError(BreakglassError):
    """An expression could not be compiled or evaluated.

    Attributes:
        text: the expression's source text.
        reason: what went wrong, without the position or the text.
        column: 1-based character column of the offending construct, or ``None`` when the
            error is not tied to one place (most evaluation errors).
    """

    def __init__(self, text: str, reason: str, column: int | None = None) -> None:
        self.text = text
        self.reason = reason
        self.column = column
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"{reason}{where} in expression {text!r}")
