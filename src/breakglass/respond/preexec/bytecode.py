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
    "COMMON_SELECTORS",
    "code_references",
    "dispatcher_selectors",
    "instructions",
    "pushed_selectors",
    "selector_scan",
]

COMMON_SELECTORS = frozenset(
    {
        "0xa9059cbb",  # transfer(address,uint256)
        "0x23b872dd",  # transferFrom(address,address,uint256)
        "0x095ea7b3",  # approve(address,uint256)
        "0x70a08231",  # balanceOf(address)
        "0xdd62ed3e",  # allowance(address,address)
        "0x18160ddd",  # totalSupply()
        "0x313ce567",  # decimals()
        "0x95d89b41",  # symbol()
        "0x06fdde03",  # name()
        "0x01ffc9a7",  # supportsInterface(bytes4)
    }
)
"""Functions every token has (ERC-20, ERC-165): code that calls them says nothing of its
target."""

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


def selector_scan(code: bytes) -> tuple[list[str], set[str]]:
    """One pass over ``code``: the selectors its dispatcher answers to (in code order), and
    every 4-byte value it pushes (``PUSH4``, or ``PUSH3`` for a leading zero byte).

    A dispatcher selector is a push followed by a comparison (``EQ``, ``DUP2 EQ``, ``XOR``)
    and a conditional jump (``PUSHn <dest> JUMPI``): a ``PUSH4`` used as a constant
    elsewhere (an error selector, a call to another contract) is only pushed.
    """
    dispatcher: dict[str, None] = {}
    pushed: set[str] = set()
    offset, size = 0, len(code)
    while offset < size:
        opcode = code[offset]
        if not _PUSH1 <= opcode <= _PUSH32:
            offset += 1
            continue
        end = offset + opcode - _PUSH1 + 2
        if opcode in (_PUSH3, _PUSH4) and end <= size:
            selector = "0x" + code[offset + 1 : end].rjust(4, b"\0").hex()
            pushed.add(selector)
            if _compares_and_jumps(code, end):
                dispatcher[selector] = None
        offset = end
    return list(dispatcher), pushed


def _compares_and_jumps(code: bytes, at: int) -> bool:
    """Whether ``EQ``/``XOR`` (or ``DUP2 EQ``), then ``PUSHn <dest> JUMPI``, start at ``at``."""
    size = len(code)
    if at < size and code[at] in (_EQ, _XOR):
        at += 1
    elif at + 1 < size and code[at] == _DUP2 and code[at + 1] == _EQ:
        at += 2
    else:
        return False
    if at >= size or not _PUSH1 <= code[at] <= _PUSH32:
        return False
    jump = at + code[at] - _PUSH1 + 2
    return jump < size and code[jump] == _JUMPI


def dispatcher_selectors(code: bytes) -> list[str]:
    """The selectors the code's dispatcher answers to, ``0x`` + 8 hex, in code order."""
    return selector_scan(code)[0]


def pushed_selectors(code: bytes, selectors: Collection[str]) -> list[str]:
    """Which of ``selectors`` (``0x`` + 8 hex) the code pushes anywhere: functions of other
    contracts that it may call."""
    pushed = selector_scan(code)[1]
    return [s for s in dict.fromkeys(x.lower() for x in selectors) if s in pushed]


def code_references(code: bytes, addresses: Collection[str]) -> list[str]:
    """Which of ``addresses`` (lowercase ``0x`` hex) occur in ``code`` on a byte boundary:
    as a ``PUSH20`` constant, an immutable's ``PUSH32`` word or a constructor argument."""
    return [a for a in addresses if bytes.fromhex(a.removeprefix("0x")) in code]
