"""Walking ``callTracer`` frames, and function selectors, for rules that read call traces.

A frame is geth's ``callTracer`` shape: ``type`` (CALL, STATICCALL, DELEGATECALL, CREATE,
CREATE2, SELFDESTRUCT, ...), ``from``, ``to``, ``input``, ``output``, ``value`` (hex),
``calls`` (nested frames) and ``error`` when the frame reverted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from eth_utils.crypto import keccak
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "CREATES",
    "Signature",
    "address",
    "call_selector",
    "frame_value",
    "native_flows",
    "selector_of",
    "walk",
]

CREATES = frozenset({"CREATE", "CREATE2"})
"""Frame types that deploy a contract; their ``output`` is the deployed runtime code."""

_CONTEXT_ONLY = frozenset({"DELEGATECALL", "CALLCODE", "STATICCALL"})
_SIGNATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\([A-Za-z0-9_,\[\]()]*\)$")

Frame = Mapping[str, Any]


def walk(root: Frame, *, reverted: bool = False) -> Iterator[tuple[Frame, tuple[Frame, ...]]]:
    """Every frame under ``root`` (itself included), depth first, with its ancestors (outermost
    first). Reverted frames and everything below them are left out unless ``reverted``."""
    stack: list[tuple[Frame, tuple[Frame, ...]]] = [(root, ())]
    while stack:
        frame, ancestors = stack.pop()
        if frame.get("error") and not reverted:
            continue
        yield frame, ancestors
        children = frame.get("calls") or ()
        path = (*ancestors, frame)
        stack.extend((child, path) for child in reversed(children) if isinstance(child, Mapping))


def address(frame: Frame, key: str) -> str:
    """``frame[key]`` as a lowercase address, ``""`` when missing."""
    return str(frame.get(key) or "").lower()


def call_selector(frame: Frame) -> str:
    """The 4-byte selector a frame called (``0x`` + 8 hex), ``""`` for shorter input."""
    data = str(frame.get("input") or "0x").lower()
    return data[:10] if len(data) >= 10 else ""


def frame_value(frame: Frame) -> int:
    """Wei moved by a frame: none for delegate, static and callcode frames."""
    if frame.get("type") in _CONTEXT_ONLY:
        return 0
    raw = frame.get("value") or "0x0"
    return int(str(raw), 16)


def native_flows(root: Frame) -> Iterator[tuple[str, str, int]]:
    """``(from, to, wei)`` for every successful frame that moved native currency."""
    for frame, _ in walk(root):
        value = frame_value(frame)
        if value:
            yield address(frame, "from"), address(frame, "to"), value


def selector_of(signature: str) -> str:
    """``0x`` + 8 hex of a function signature such as ``upgradeTo(address)``."""
    return "0x" + keccak(text=signature.replace(" ", ""))[:4].hex()


def _check_signature(value: str) -> str:
    compact = value.replace(" ", "")
    if not _SIGNATURE.match(compact):
        raise PydanticCustomError(
            "function_signature", "a function signature such as upgradeTo(address)"
        )
    return compact


Signature = Annotated[str, AfterValidator(_check_signature)]
"""A function signature in a rule's parameters, e.g. ``transferOwnership(address)``."""
