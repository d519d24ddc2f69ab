"""Net balance changes per address and asset, and their check against the chain's own state.

:func:`balance_changes` nets the transfers: what each address gained (positive) or lost
(negative) of each asset, gas left out, so every asset sums to zero over the addresses.

:func:`check_native` compares the native part with ``prestateTracer`` in diff mode, the
balances the node itself recorded before and after the transaction: every address must move by
exactly its net native transfers, except the sender, who also pays the gas fee, and the block's
fee recipient, who receives the priority fee (the base fee is burnt). Anything else (an L2
data fee, a tracer that missed a call, a self-destruct refund) is listed as a mismatch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from breakglass.analysis.transfers import NATIVE, Transfer

__all__ = ["NativeCheck", "balance_changes", "check_native", "state_deltas"]


def balance_changes(transfers: Iterable[Transfer]) -> dict[tuple[str, str], int]:
    """(address, asset) → net change, zero entries left out; asset is :data:`NATIVE` or
    the token's address."""
    net: defaultdict[tuple[str, str], int] = defaultdict(int)
    for t in transfers:
        net[(t.from_, t.asset)] -= t.amount
        net[(t.to, t.asset)] += t.amount
    return {key: amount for key, amount in sorted(net.items()) if amount}


@dataclass(frozen=True, slots=True)
class NativeCheck:
    """The outcome of comparing native transfers with the node's recorded balances.

    Attributes:
        ok: every address agrees exactly (after gas).
        gas_fee: wei the sender paid for gas (gas used times effective gas price).
        priority_fee: the part of it the fee recipient (``coinbase``) received.
        coinbase: the block's fee recipient.
        state: address → native balance change recorded by ``prestateTracer``.
        mismatches: address → (expected from transfers and gas, recorded by the node).
        note: why the check could not run, when it could not (``ok`` is then ``False``).
    """

    ok: bool
    gas_fee: int = 0
    priority_fee: int = 0
    coinbase: str = ""
    state: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; wei amounts as decimal strings."""
        return {
            "ok": self.ok,
            "gas_fee": str(self.gas_fee),
            "priority_fee": str(self.priority_fee),
            "coinbase": self.coinbase,
            "state": {k: str(v) for k, v in self.state.items()},
            "mismatches": {
                k: {"expected": str(e), "state": str(s)} for k, (e, s) in self.mismatches.items()
            },
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NativeCheck:
        """Read back :meth:`to_dict`."""
        return cls(
            ok=raw["ok"],
            gas_fee=int(raw["gas_fee"]),
            priority_fee=int(raw["priority_fee"]),
            coinbase=raw["coinbase"],
            state={k: int(v) for k, v in raw["state"].items()},
            mismatches={
                k: (int(m["expected"]), int(m["state"])) for k, m in raw["mismatches"].items()
            },
            note=raw["note"],
        )

    def describe(self) -> str:
        """One line for people."""
        if self.note is not None:
            return f"native balances not checked: {self.note}"
        if self.ok:
            return "native balances agree with prestateTracer (after gas)"
        parts = [f"{a}: expected {e}, node says {s}" for a, (e, s) in self.mismatches.items()]
        return "native balances DISAGREE with prestateTracer: " + "; ".join(parts)


def _balance(entry: Mapping[str, Any] | None) -> int | None:
    if not entry or entry.get("balance") is None:
        return None
    raw = entry["balance"]
    return int(raw, 16) if isinstance(raw, str) else int(raw)


def state_deltas(diff: Mapping[str, Any]) -> dict[str, int]:
    """address → native balance change from a ``prestateTracer`` diff-mode result.

    In diff mode ``pre`` holds the touched accounts before, ``post`` only what changed; an
    account in ``pre`` but missing from ``post`` was deleted (self-destructed).
    """
    pre: Mapping[str, Any] = diff.get("pre") or {}
    post: Mapping[str, Any] = diff.get("post") or {}
    deltas: dict[str, int] = {}
    for address in {*pre, *post}:
        before = _balance(pre.get(address)) or 0
        if address in post:
            after = _balance(post[address])
            if after is None:
                continue  # balance unchanged
        else:
            after = 0
        if after != before:
            deltas[address.lower()] = after - before
    return deltas


def check_native(
    changes: Mapping[tuple[str, str], int],
    diff: Mapping[str, Any],
    *,
    sender: str,
    gas_fee: int,
    priority_fee: int,
    coinbase: str,
) -> NativeCheck:
    """Compare the native part of ``changes`` with a ``prestateTracer`` diff."""
    expected: defaultdict[str, int] = defaultdict(int)
    for (address, asset), amount in changes.items():
        if asset == NATIVE:
            expected[address] += amount
    expected[sender.lower()] -= gas_fee
    expected[coinbase.lower()] += priority_fee
    state = state_deltas(diff)
    mismatches = {
        address: (expected.get(address, 0), state.get(address, 0))
        for address in sorted({*expected, *state})
        if expected.get(address, 0) != state.get(address, 0)
    }
    return NativeCheck(
        ok=not mismatches,
        gas_fee=gas_fee,
        priority_fee=priority_fee,
        coinbase=coinbase.lower(),
        state=state,
        mismatches=mismatches,
    )
