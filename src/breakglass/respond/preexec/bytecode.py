"""Reading EVM bytecode without its source: the functions it exposes and what it refers to.

An attack contract is deployed unverified, so its ABI is unknown. What it exposes is in its
dispatcher: Solidity (and Vyper) compare the call's selector with each function's, as
``PUSH4 <selector> EQ PUSH2 <dest> JUMPI`` (or ``DUP2 EQ``, or ``XOR`` for Vyper), a selector
with a leading zero byte being pushed by ``PUSH3``. What it refers to shows as constants:
a target's address is a ``PUSH20``, or sits inside a ``PUSH32`` word when it is an immutable,
or in the constructor arguments at the end of the creation code; a function it calls on
another contract is a ``PUSH4`` of that function's selector.

The walk is linear and skips the data of ``PUSH`` instructions, so bytes inside a push are
never read as opcodes; the metadata at the end of the code may decode as noise, which matches
no pattern that matters here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

__all__ = [
    "code_references",
    "dispatcher_selectors",
    "instructions",
    "pushed_selectors",
]

_PUSH1, _PUSH32 = 0x60, 0x7F
_EQ, _XOR, _JUMPI, _DUP2 = 0x14, 0x18, 0x57, 0x81
_PUSH3, _PUSH4 = 0x62, 0x63


def instructions(code: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(offset, opcode, push data)`` for each instruction; empty data for non-pushes."""
    offset, size = 0, len(code)
    while offset < size:
        opcode = code[offset]
        if _PUSH1 <= opcode <= _PUSH32:
            width = opcode - _PUSH1 + 1
            yield offset, opcode, code[offset + 1 : offset + 1 + width]
            offset += 1 + width
        else:
            yield offset, opcode, b""
            offset += 1


def dispatcher_selectors(code: bytes) -> list[str]:
    """The selectors the code's dispatcher answers to, ``0x`` + 8 hex, in code order.

    A selector counts when its push is followed by a comparison (``EQ``, ``DUP2 EQ``,
    ``XOR``) and a conditional jump within the next two instructions: a ``PUSH4`` used as
    a constant elsewhere (an error selector, a call to another contract) is left out.
    """
    listed = list(instructions(code))
    found: dict[str, None] = {}
    for index, (_, opcode, data) in enumerate(listed):
        if opcode not in (_PUSH3, _PUSH4):
            continue
        following = [op for _, op, _ in listed[index + 1 : index + 5]]
        if following[:1] in ([_EQ], [_XOR]):
            rest = following[1:]
        elif following[:2] == [_DUP2, _EQ]:
            rest = following[2:]
        else:
            continue
        # Then the jump destination's push and JUMPI.
        if len(rest) >= 2 and _PUSH1 <= rest[0] <= _PUSH32 and rest[1] == _JUMPI:
            found["0x" + data.rjust(4, b"\0").hex()] = None
    return list(found)


def pushed_selectors(code: bytes, selectors: Collection[str]) -> list[str]:
    """Which of ``selectors`` (``0x`` + 8 hex) the code pushes anywhere: functions of other
    contracts that it may call."""
    wanted = {s.lower() for s in selectors}
    found: dict[str, None] = {}
    for _, opcode, data in instructions(code):
        if opcode in (_PUSH3, _PUSH4):
            selector = "0x" + data.rjust(4, b"\0").hex()
            if selector in wanted:
                found[selector] = None
    return list(found)


def code_references(code: bytes, addresses: Collection[str]) -> list[str]:
    """Which of ``addresses`` (lowercase ``0x`` hex) occur in ``code`` on a byte boundary:
    as a ``PUSH20`` constant, an immutable's ``PUSH32`` word or a constructor argument."""
    return [a for a in addresses if bytes.fromhex(a.removeprefix("0x")) in code]
