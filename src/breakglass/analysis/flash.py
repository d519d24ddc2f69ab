"""Flash loans and flash swaps in a decoded call tree.

A loan is a lending call whose subtree holds the matching callback from the lender to the
borrower:

* Uniswap V2 flash swap: ``swap(amount0Out, amount1Out, to, data)`` with non-empty ``data``,
  calling back ``uniswapV2Call`` on ``to``;
* Aave V2/V3: ``flashLoan`` / ``flashLoanSimple`` calling back ``executeOperation``;
* Balancer V2: the Vault's ``flashLoan`` calling back ``receiveFlashLoan``;
* ERC-3156: ``flashLoan(receiver, token, amount, data)`` calling back ``onFlashLoan``.

Amounts come from the transfers, not from the call arguments: *borrowed* is what reached the
borrower inside the lending call before the callback started; *repaid* is what the borrower
sent, from the callback's start to the end of the lending call, back to the lender or to an
address that had sent it borrowed funds (an Aave aToken, a Balancer Vault). Swaps the borrower
makes elsewhere during the callback are neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.analysis.trace import CallNode
from breakglass.analysis.transfers import Transfer
from breakglass.detect.traces import selector_of

__all__ = ["FlashLoan", "find_flash_loans"]

_V2_SWAP = selector_of("swap(uint256,uint256,address,bytes)")

# lending selector → (kind, callback selectors)
_KINDS: dict[str, tuple[str, frozenset[str]]] = {
    _V2_SWAP: (
        "uniswap-v2-flash-swap",
        frozenset({selector_of("uniswapV2Call(address,uint256,uint256,bytes)")}),
    ),
    selector_of("flashLoan(address,address[],uint256[],uint256[],address,bytes,uint16)"): (
        "aave-flash-loan",
        frozenset({selector_of("executeOperation(address[],uint256[],uint256[],address,bytes)")}),
    ),
    selector_of("flashLoanSimple(address,address,uint256,bytes,uint16)"): (
        "aave-flash-loan",
        frozenset({selector_of("executeOperation(address,uint256,uint256,address,bytes)")}),
    ),
    selector_of("flashLoan(address,address[],uint256[],bytes)"): (
        "balancer-flash-loan",
        frozenset({selector_of("receiveFlashLoan(address[],uint256[],uint256[],bytes)")}),
    ),
    selector_of("flashLoan(address,address,uint256,bytes)"): (
        "erc3156-flash-loan",
        frozenset({selector_of("onFlashLoan(address,address,uint256,uint256,bytes)")}),
    ),
}


@dataclass(frozen=True, slots=True)
class FlashLoan:
    """One flash loan or flash swap.

    Attributes:
        kind: ``uniswap-v2-flash-swap``, ``aave-flash-loan``, ``balancer-flash-loan`` or
            ``erc3156-flash-loan``.
        lender: the contract called to lend (the pair, pool, vault or ERC-3156 lender).
        borrower: the contract whose callback ran.
        borrowed: asset → amount received by the borrower.
        repaid: asset → amount sent back by the borrower.
        call_seq: execution-order position of the lending call.
        callback_seq: execution-order position of the callback.
    """

    kind: str
    lender: str
    borrower: str
    borrowed: dict[str, int] = field(default_factory=dict)
    repaid: dict[str, int] = field(default_factory=dict)
    call_seq: int = 0
    callback_seq: int = 0

    @property
    def fees(self) -> dict[str, int]:
        """asset → repaid minus borrowed, for every asset that was borrowed or repaid."""
        assets = sorted({*self.borrowed, *self.repaid})
        return {a: self.repaid.get(a, 0) - self.borrowed.get(a, 0) for a in assets}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; amounts as decimal strings."""
        return {
            "kind": self.kind,
            "lender": self.lender,
            "borrower": self.borrower,
            "borrowed": {k: str(v) for k, v in self.borrowed.items()},
            "repaid": {k: str(v) for k, v in self.repaid.items()},
            "call_seq": self.call_seq,
            "callback_seq": self.callback_seq,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FlashLoan:
        """Read back :meth:`to_dict`."""
        return cls(
            kind=raw["kind"],
            lender=raw["lender"],
            borrower=raw["borrower"],
            borrowed={k: int(v) for k, v in raw["borrowed"].items()},
            repaid={k: int(v) for k, v in raw["repaid"].items()},
            call_seq=raw["call_seq"],
            callback_seq=raw["callback_seq"],
        )


def _v2_has_data(node: CallNode) -> bool:
    if node.args is not None and len(node.args) == 4:
        return node.args[3].value not in ("0x", b"", None)
    # undecoded: selector, amount0, amount1, to, offset, then the data's length word
    length = node.input[10 + 64 * 4 : 10 + 64 * 5]
    return bool(length.strip("0"))


def _callback(node: CallNode, selectors: frozenset[str], lender: str) -> CallNode | None:
    for below in node.walk():
        if below is not node and below.selector in selectors and below.from_ == lender:
            return below
    return None


def _amounts(
    node: CallNode, callback: CallNode, transfers: Sequence[Transfer]
) -> tuple[dict[str, int], dict[str, int]]:
    borrower = callback.to
    inside = [t for t in transfers if t.seq is not None and node.contains(t.seq)]
    borrowed: defaultdict[str, int] = defaultdict(int)
    sources = {node.to}
    for t in inside:
        assert t.seq is not None
        if t.seq < callback.seq and t.to == borrower and t.from_ != borrower:
            borrowed[t.asset] += t.amount
            sources.add(t.from_)
    repaid: defaultdict[str, int] = defaultdict(int)
    for t in inside:
        assert t.seq is not None
        if t.seq > callback.seq and t.from_ == borrower and t.to in sources:
            repaid[t.asset] += t.amount
    return dict(borrowed), dict(repaid)


def find_flash_loans(root: CallNode, transfers: Iterable[Transfer]) -> list[FlashLoan]:
    """Every flash loan in the tree, outermost first (a proxy's delegate call counts once)."""
    ordered = sorted(transfers, key=lambda t: (t.seq is None, t.seq or 0))
    loans: list[FlashLoan] = []
    used: set[int] = set()
    for node in root.walk():
        if node.reverted or node.selector not in _KINDS:
            continue
        kind, callbacks = _KINDS[node.selector]
        if node.selector == _V2_SWAP and not _v2_has_data(node):
            continue
        callback = _callback(node, callbacks, node.to)
        if callback is None or callback.seq in used:
            continue
        used.add(callback.seq)
        borrowed, repaid = _amounts(node, callback, ordered)
        loans.append(
            FlashLoan(
                kind=kind,
                lender=node.to,
                borrower=callback.to,
                borrowed=borrowed,
                repaid=repaid,
                call_seq=node.seq,
                callback_seq=callback.seq,
            )
        )
    return loans
