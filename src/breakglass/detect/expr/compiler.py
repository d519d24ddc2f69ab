"""Compile expression text once: ``ast.parse``, a whitelist of node types, then closures.

The text is parsed by the standard library in ``eval`` mode and never handed to ``eval``,
``exec`` or ``compile``. Each accepted node becomes a closure (see ``closures``); any node
outside the whitelist is an ExpressionError naming the construct and its column. Subtrees
without names or views are folded to constants at compile time.
"""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from breakglass.detect.expr import closures, values
from breakglass.detect.expr.errors import ExpressionError
from breakglass.detect.expr.expression import Evaluator, Expression, ViewCall, wrap

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "compile_expression"]

MAX_LENGTH = 2000
"""Longest expression text accepted, in characters."""

MAX_DEPTH = 64
"""Deepest syntax tree accepted (``a + b + c`` is three levels)."""

_CONSTRUCTS: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment expression (:=)",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "starred expression",
    ast.Dict: "dict literal",
    ast.Slice: "slice",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.List: "list literal (allowed only after in / not in)",
    ast.Tuple: "tuple literal (allowed only after in / not in)",
    ast.Set: "set literal (allowed only after in / not in)",
}

_BINARY: dict[
    type[ast.operator], tuple[str, Callable[[Any, Any], Any] | None, Callable[[Any, Any], Any]]
] = {
    ast.Add: ("+", operator.add, values.add),
    ast.Sub: ("-", operator.sub, values.sub),
    ast.Mult: ("*", operator.mul, values.mul),
    ast.Div: ("/", None, values.truediv),
    ast.FloorDiv: ("//", operator.floordiv, values.floordiv),
    ast.Mod: ("%", operator.mod, values.mod),
    ast.Pow: ("**", None, values.power),
}

_REJECTED_OPERATORS: dict[type[ast.AST], str] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
}

_COMPARE: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
}

_COLLECTIONS = (ast.List, ast.Tuple, ast.Set)
_EMPTY: dict[Any, Any] = {}


@dataclass(slots=True)
class _Node:
    fn: Evaluator
    const: bool = False
    value: Any = None


def _constant(value: Any) -> _Node:
    return _Node(closures.constant(value), const=True, value=value)


def compile_expression(text: str) -> Expression:
    """Compile ``text`` into an Expression; see docs/expressions.md for the language.

    Raises:
        ExpressionError: the text is too long, deep or not valid syntax, or uses a construct
            outside the language; the error names the construct and its column.
    """
    if not isinstance(text, str):
        raise ExpressionError(
            repr(text), f"an expression must be a string, not {type(text).__name__}"
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text[:60] + "...", f"expression longer than {MAX_LENGTH} characters")
    flat = text.replace("\r", " ").replace("\n", " ")
    source = flat.lstrip()
    lead = len(flat) - len(source)
    if not source.strip():
        raise ExpressionError(text, "empty expression")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = exc.offset + lead if exc.offset else None
        raise ExpressionError(text, f"syntax error: {exc.msg}", column) from None
    except Exception as exc:  # null bytes, parser recursion or memory limits
        raise ExpressionError(text, f"syntax error: {exc}") from None
    compiler = _Compiler(text, source, lead, inside_view=False)
    compiler.check_depth(tree.body)
    node = compiler.build(tree.body)
    return Expression(
        text=text,
        names=frozenset(compiler.names),
        views=tuple(compiler.views.values()),
        _evaluator=node.fn,
    )


class _Compiler:
    def __init__(self, text: str, source: str, lead: int, *, inside_view: bool) -> None:
        self.text = text
        self.source = source
        self.encoded = source.encode()
        self.lead = lead
        self.inside_view = inside_view
        self.names: set[str] = set()
        self.views: dict[str, ViewCall] = {}
        self.conditional_depth = 0  # > 0 inside a branch that may never be evaluated

    def fail(self, node: ast.AST, reason: str) -> ExpressionError:
        offset = getattr(node, "col_offset", 0)
        column = len(self.encoded[:offset].decode("utf-8", "ignore")) + self.lead + 1
        return ExpressionError(self.text, reason, column)

    def reject(self, node: ast.AST) -> ExpressionError:
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        return self.fail(node, f"{construct} is not allowed")

    def check_depth(self, root: ast.AST) -> None:
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise self.fail(node, f"expression nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def fold(self, node: ast.AST, fn: Evaluator, children: list[_Node]) -> _Node:
        if not all(child.const for child in children):
            return _Node(fn)
        try:
            return _constant(fn(_EMPTY, _EMPTY))
        except Exception as exc:  # any error of folding: deferred or re-raised as ours
            if self.conditional_depth:
                # A short circuit (``a and 1 // 0``) may never reach it: as in Python, it
                # fails only if evaluated.
                return _Node(fn)
            raise self.fail(node, wrap(self.text, exc).reason) from None

    def branches(self, nodes: list[ast.expr]) -> list[_Node]:
        """Build operands that are evaluated only on some paths."""
        self.conditional_depth += 1
        try:
            return [self.build(node) for node in nodes]
        finally:
            self.conditional_depth -= 1

    def build(self, node: ast.expr) -> _Node:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise self.reject(node)
        return handler(self, node)

    def constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if value is None or isinstance(value, bool | int | str):
            return _constant(value)
        if isinstance(value, float):
            try:
                return _constant(values.parse_decimal(self.segment(node)))
            except values.EvalFailure as exc:
                raise self.fail(node, str(exc)) from None
        kind = "bytes literal" if isinstance(value, bytes) else f"{type(value).__name__} literal"
        raise self.fail(node, f"{kind} is not allowed")

    def check_identifier(self, node: ast.AST, identifier: str) -> None:
        if identifier.startswith("__"):
            raise self.fail(node, f"dunder name {identifier!r} is not allowed")

    def name(self, node: ast.Name) -> _Node:
        self.check_identifier(node, node.id)
        self.names.add(node.id)
        return _Node(closures.name(node.id))

    def attribute(self, node: ast.Attribute) -> _Node:
        self.check_identifier(node, node.attr)
        if not isinstance(node.value, ast.Name | ast.Attribute | ast.Subscript):
            construct = _CONSTRUCTS.get(type(node.value), type(node.value).__name__)
            raise self.fail(node, f"attribute access on {construct.split(' (')[0]} is not allowed")
        return self.lookup(node, node.value, node.attr)

    def subscript(self, node: ast.Subscript) -> _Node:
        key_node = node.slice
        if isinstance(key_node, ast.UnaryOp) and isinstance(key_node.op, ast.USub):
            key_node = key_node.operand
            sign = -1
        else:
            sign = 1
        if not (isinstance(key_node, ast.Constant) and type(key_node.value) in (int, str)):
            raise self.fail(node.slice, "a subscript must be a constant string or integer")
        key = key_node.value
        if sign == -1:
            if not isinstance(key, int):
                raise self.fail(node.slice, "a subscript must be a constant string or integer")
            key = -key
        return self.lookup(node, node.value, key)

    def lookup(self, node: ast.AST, container: ast.expr, key: Any) -> _Node:
        inner = self.build(container)
        root = container.id if isinstance(container, ast.Name) else None
        return self.fold(node, closures.item(inner.fn, key, root), [inner])

    def unary(self, node: ast.UnaryOp) -> _Node:
        operand = self.build(node.operand)
        op: Callable[[Any], Any]
        if isinstance(node.op, ast.USub):
            op = values.negate
        elif isinstance(node.op, ast.UAdd):
            op = values.positive
        elif isinstance(node.op, ast.Not):
            op = operator.not_
        else:
            raise self.fail(
                node, f"operator {_REJECTED_OPERATORS.get(type(node.op), '?')} is not allowed"
            )
        return self.fold(node, closures.unary(op, operand.fn), [operand])

    def binary(self, node: ast.BinOp) -> _Node:
        spec = _BINARY.get(type(node.op))
        if spec is None:
            raise self.fail(
                node, f"operator {_REJECTED_OPERATORS.get(type(node.op), '?')} is not allowed"
            )
        _, fast, slow = spec
        left = self.build(node.left)
        right = self.build(node.right)
        return self.fold(node, closures.binop(fast, slow, left.fn, right.fn), [left, right])

    def members(self, node: ast.expr) -> _Node:
        if not isinstance(node, _COLLECTIONS):
            raise self.fail(
                node, "the right side of in / not in must be a list, tuple or set literal"
            )
        elements = [self.build(element) for element in node.elts]
        if all(element.const for element in elements):
            return _constant(tuple(element.value for element in elements))
        fns = [element.fn for element in elements]

        def fn(env: closures.Env, views: closures.Views) -> Any:
            return tuple(element(env, views) for element in fns)

        return _Node(fn)

    def compare(self, node: ast.Compare) -> _Node:
        left = self.build(node.left)
        symbols: list[str] = []
        rights: list[_Node] = []
        for index, (op, comparator) in enumerate(zip(node.ops, node.comparators, strict=True)):
            symbol = _COMPARE.get(type(op))
            if symbol is None:
                raise self.fail(
                    node, f"operator {_REJECTED_OPERATORS.get(type(op), '?')} is not allowed"
                )
            if symbol in ("in", "not in"):
                if index + 1 < len(node.ops):
                    raise self.fail(comparator, "a collection literal cannot be compared further")
                rights.append(self.members(comparator))
            else:
                rights.append(self.build(comparator))
            symbols.append(symbol)
        quotient = node.comparators[0]
        if (
            len(symbols) == 1
            and symbols[0] not in ("in", "not in")
            and isinstance(quotient, ast.BinOp)
            and isinstance(quotient.op, ast.Div)
            and not rights[0].const
        ):
            numerator = self.build(quotient.left)
            denominator = self.build(quotient.right)
            fn = closures.compare_quotient(symbols[0], left.fn, numerator.fn, denominator.fn)
        elif len(symbols) == 1:
            right = rights[0]
            fn = closures.compare(symbols[0], left.fn, right.fn, right.value, right.const)
        else:
            steps = [(closures.COMPARISONS[s], r.fn) for s, r in zip(symbols, rights, strict=True)]
            fn = closures.chain(left.fn, steps)
        return self.fold(node, fn, [left, *rights])

    def boolean(self, node: ast.BoolOp) -> _Node:
        operands = [self.build(node.values[0]), *self.branches(node.values[1:])]
        fn = closures.boolop(isinstance(node.op, ast.And), [o.fn for o in operands])
        return self.fold(node, fn, operands)

    def conditional(self, node: ast.IfExp) -> _Node:
        parts = [self.build(node.test), *self.branches([node.body, node.orelse])]
        return self.fold(node, closures.conditional(*(p.fn for p in parts)), parts)

    def call(self, node: ast.Call) -> _Node:
        if node.keywords:
            raise self.fail(node.keywords[0].value, "keyword arguments are not allowed")
        function = self.view_name(node.func)
        builtin = values.BUILTINS.get(function)
        if builtin is not None:
            run, fewest, most = builtin
            if len(node.args) < fewest or (most is not None and len(node.args) > most):
                raise self.fail(
                    node, f"{function}() takes {fewest}{'' if most == fewest else '+'} argument(s)"
                )
            args = [self.build(arg) for arg in node.args]
            return self.fold(node, closures.call(run, [a.fn for a in args]), args)
        return self.view(node, function)

    def view_name(self, func: ast.expr) -> str:
        parts: list[str] = []
        while isinstance(func, ast.Attribute):
            self.check_identifier(func, func.attr)
            parts.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            raise self.fail(func, "only builtins and view names can be called")
        self.check_identifier(func, func.id)
        parts.append(func.id)
        return ".".join(reversed(parts))

    def view(self, node: ast.Call, function: str) -> _Node:
        if self.inside_view:
            raise self.fail(node, "a view call's arguments cannot call views")
        args: list[Expression] = []
        fns: list[Evaluator] = []
        for arg in node.args:
            sub = _Compiler(self.text, self.source, self.lead, inside_view=True)
            compiled = sub.build(arg)
            self.names |= sub.names
            fns.append(compiled.fn)
            args.append(Expression(self.segment(arg), frozenset(sub.names), (), compiled.fn))
        text = ast.unparse(node)
        self.views.setdefault(text, ViewCall(function, tuple(args), text))
        return _Node(closures.view(function, text, fns))


_HANDLERS: dict[type[ast.AST], Callable[[_Compiler, Any], _Node]] = {
    ast.Constant: _Compiler.constant,
    ast.Name: _Compiler.name,
    ast.Attribute: _Compiler.attribute,
    ast.Subscript: _Compiler.subscript,
    ast.UnaryOp: _Compiler.unary,
    ast.BinOp: _Compiler.binary,
    ast.Compare: _Compiler.compare,
    ast.BoolOp: _Compiler.boolean,
    ast.IfExp: _Compiler.conditional,
    ast.Call: _Compiler.call,
}
