"""A compiled expression: a tree of closures plus what it needs from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from breakglass.detect.expr.errors import ExpressionError
from breakglass.detect.expr.values import EvalFailure, normalise

__all__ = ["Evaluator", "Expression", "ViewCall", "ViewKey"]

ViewKey = tuple[str, tuple[Any, ...]]
"""How a fetched view value is keyed: ``(name, evaluated arguments)``, addresses lowercased."""

Evaluator = Callable[[Mapping[str, Any], Mapping[ViewKey, Any]], Any]

_NO_VIEWS: Mapping[ViewKey, Any] = {}


def wrap(text: str, exc: Exception) -> ExpressionError:
    """The ExpressionError, naming ``text``, that stands for ``exc`` raised while evaluating."""
    if isinstance(exc, ExpressionError):
        return exc
    if isinstance(exc, EvalFailure):
        return ExpressionError(text, str(exc))
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        return ExpressionError(text, f"unknown name or key {key!r}")
    if isinstance(exc, IndexError):
        return ExpressionError(text, "index out of range")
    if isinstance(exc, ZeroDivisionError):
        return ExpressionError(text, "division by zero")
    return ExpressionError(text, f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class ViewCall:
    """A view call the expression makes, such as ``balanceOf(args.to)``.

    Attributes:
        name: the view's name as written (``totalAssets``, or dotted: ``token.balanceOf``).
        args: the argument expressions; they never call views themselves.
        text: the call in canonical form, used to tell calls apart.
    """

    name: str
    args: tuple[Expression, ...]
    text: str

    def key(self, env: Mapping[str, Any]) -> ViewKey:
        """The key this call's value must have in ``views``, given the rule's ``env``.

        Raises:
            ExpressionError: an argument could not be evaluated.
        """
        return (self.name, tuple(normalise(arg.evaluate(env)) for arg in self.args))


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """An expression compiled once; evaluate it as often as needed.

    Attributes:
        text: the source text.
        names: the free variables it reads (the first name of each path: ``args`` for
            ``args.value``).
        views: the distinct view calls it makes, in order of first appearance.
    """

    text: str
    names: frozenset[str]
    views: tuple[ViewCall, ...]
    _evaluator: Evaluator = field(repr=False)

    def evaluate(self, env: Mapping[str, Any], views: Mapping[ViewKey, Any] | None = None) -> Any:
        """The expression's value.

        Args:
            env: values for the free variables.
            views: values of the view calls, keyed as ``ViewCall.key`` says.

        Raises:
            ExpressionError: a name or view is missing, an operand has the wrong type, a
                division by zero, or a resource cap was hit.
        """
        try:
            return self._evaluator(env, _NO_VIEWS if views is None else views)
        except Exception as exc:  # the promise is: nothing but ExpressionError escapes
            raise wrap(self.text, exc) from None

    def view_keys(self, env: Mapping[str, Any]) -> frozenset[ViewKey]:
        """Every view key this expression may read with ``env``: what a rule batch-fetches.

        Raises:
            ExpressionError: a view argument could not be evaluated.
        """
        return frozenset(view.key(env) for view in self.views)
