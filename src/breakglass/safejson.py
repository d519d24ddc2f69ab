"""Parsing JSON that someone else wrote, without letting it crash or exhaust the process.

Every untrusted document (API bodies, Safe transaction files, news feeds, ABI files) goes
through :func:`loads`. It parses with orjson, whose parser stops at a fixed depth of 1024
instead of recursing on the C stack, then walks the result iteratively to enforce a much
smaller depth. The standard library's ``json`` is unsafe here: ``py_ecc`` (imported by
eth-account) raises Python's recursion limit to 100,000, and ``json.loads`` of a few hundred
kilobytes of ``[`` then overflows the C stack and the process dies with SIGSEGV.

:func:`install_recursion_guard` (run when ``breakglass`` is imported, so by every entry
point) puts the recursion limit back to :data:`SAFE_RECURSION_LIMIT` right after ``py_ecc``
raises it, whenever that import happens.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, cast

from breakglass.errors import BreakglassError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = [
    "MAX_DEPTH",
    "SAFE_RECURSION_LIMIT",
    "UnsafeJson",
    "install_recursion_guard",
    "loads",
]

MAX_DEPTH = 64
"""Nesting allowed by default: every document breakglass reads is far shallower."""

SAFE_RECURSION_LIMIT = 4000
"""Deep enough for every library breakglass uses, shallow enough that a C-level recursion
(``json``, ``repr``, ``copy``) raises ``RecursionError`` before it exhausts an 8 MiB stack."""

_RAISES_LIMIT = frozenset({"py_ecc"})


class UnsafeJson(BreakglassError):
    """A JSON document is malformed, too large or nested too deeply."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str = "the JSON document",
    max_depth: int = MAX_DEPTH,
    max_bytes: int | None = None,
) -> Any:
    """Parse untrusted JSON.

    Args:
        data: the document.
        what: how the error message names the document (a path, "the request body").
        max_depth: the deepest nesting of arrays and objects accepted.
        max_bytes: the largest document accepted, if any.

    Raises:
        UnsafeJson: the document is too large, not JSON, or nested deeper than ``max_depth``.
    """
    import orjson  # noqa: PLC0415 - `import breakglass` runs for `--help` too

    size = len(data.encode() if isinstance(data, str) else data)
    if max_bytes is not None and size > max_bytes:
        raise UnsafeJson(f"{what} is {size:,} bytes; at most {max_bytes:,} are accepted")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise UnsafeJson(f"{what} is nested deeper than {max_depth} levels") from None
        raise UnsafeJson(f"{what} is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise UnsafeJson(f"{what} is nested deeper than {max_depth} levels")
    return value


class _RestoreLimit:
    # Not importlib.abc.Loader: importing importlib.abc costs ~35 ms on every command.
    def __init__(self, inner: Loader) -> None:
        self._inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self._inner.exec_module(module)
        finally:
            sys.setrecursionlimit(SAFE_RECURSION_LIMIT)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _RecursionGuard:
    """Wraps the loader of modules known to raise the recursion limit."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _RAISES_LIMIT:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = cast("Loader", _RestoreLimit(spec.loader))
                return spec
        return None


def install_recursion_guard() -> None:
    """Keep the recursion limit at :data:`SAFE_RECURSION_LIMIT` whatever imports later raise
    it (idempotent)."""
    if any(isinstance(finder, _RecursionGuard) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _RecursionGuard())
    if sys.getrecursionlimit() > SAFE_RECURSION_LIMIT:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
