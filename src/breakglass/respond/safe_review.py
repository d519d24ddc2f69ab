"""What a Safe transaction does, in the plan's words, before an owner signs it.

A Safe proposal can arrive from anywhere (``safe import``), and a signature on it is
irrevocable: an owner must see the target (with the plan's name for it), the decoded call
and the operation (see :func:`breakglass.respond.safes.check_operation` for delegatecalls).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError, ParseError
from eth_utils.abi import function_signature_to_4byte_selector

from breakglass.plan.abifile import AbiFileError, read_abi_file
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.chain import Contract
from breakglass.respond.calls import CallSpecError, parse_signature
from breakglass.respond.safes import DELEGATECALL
from breakglass.respond.signers.safe import SafeTxData

__all__ = ["SafeTxSummary", "canonical_type", "contract_abi", "decode_call", "describe_safe_tx"]

_MAX_SHOWN = 66


@dataclass(frozen=True)
class SafeTxSummary:
    """A Safe transaction as an owner reviews it."""

    target: str
    target_name: str | None
    operation: str
    call: str
    value: int

    def text(self) -> str:
        """One line: ``call token (0x…): pause()``, value and operation included."""
        where = f"{self.target_name} ({self.target})" if self.target_name else self.target
        value = f" sending {self.value} wei" if self.value else ""
        return f"{self.operation.upper()} {where}: {self.call}{value}"


def canonical_type(item: dict[str, Any]) -> str:
    """An ABI input's type as signatures spell it (tuples as ``(a,b)[]``)."""
    kind = str(item.get("type", ""))
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _functions(loaded: LoadedPlan | None, target: str) -> Iterator[tuple[str, list[str]]]:
    """Function signatures the plan knows, the target's own first."""
    if loaded is None:
        return
    contracts = sorted(
        loaded.plan.contracts.values(), key=lambda c: c.address.lower() != target.lower()
    )
    for contract in contracts:
        if contract.pause is not None:
            for signature in (contract.pause.function, contract.pause.unpause):
                if signature:
                    try:
                        yield signature.replace(" ", ""), parse_signature(signature)[1]
                    except CallSpecError:
                        continue
        for item in contract_abi(loaded, contract):
            if item.get("type") == "function" and isinstance(item.get("name"), str):
                types = [canonical_type(i) for i in item.get("inputs", [])]
                yield f"{item['name']}({','.join(types)})", types


def contract_abi(loaded: LoadedPlan, contract: Contract) -> list[dict[str, Any]]:
    """``contract``'s ABI from the plan's file; empty when it names none or the file cannot
    be read (a review then names the call by its selector, it does not fail)."""
    if contract.abi is None:
        return []
    try:
        return list(read_abi_file(contract.abi, base_dir=loaded.base_dir))
    except AbiFileError:
        return []


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        value = "0x" + value.hex()
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def decode_call(loaded: LoadedPlan | None, *, to: str, data: bytes) -> str:
    """``data`` sent to ``to`` as a call a person reads (``pause()``, ``setCap(0)``), decoded
    with the plan's ABIs and pause methods; an unknown selector is named as such."""
    if not data:
        return "no calldata (a plain transfer)"
    selector = data[:4]
    for signature, types in _functions(loaded, to):
        if function_signature_to_4byte_selector(signature) != selector:
            continue
        try:
            args = decode(types, data[4:])
        except (DecodingError, ParseError, ValueError):  # not this function after all
            continue
        name = signature.split("(", 1)[0]
        return f"{name}({', '.join(_shown(a) for a in args)})"
    return f"unknown function 0x{selector.hex()} ({len(data)} bytes of calldata)"


def describe_safe_tx(loaded: LoadedPlan | None, tx: SafeTxData) -> SafeTxSummary:
    """The transaction's target (with the plan's contract name), decoded call and operation;
    calldata is decoded with the plan's ABIs and pause methods."""
    names = loaded.plan.contracts.items() if loaded is not None else ()
    target_name = next(
        (name for name, c in names if c.address.lower() == tx.to.lower()),
        None,
    )
    operation = "delegatecall" if tx.operation == DELEGATECALL else "call"
    if tx.operation not in (0, DELEGATECALL):
        operation = f"operation {tx.operation}"
    call = decode_call(loaded, to=tx.to, data=tx.data)
    return SafeTxSummary(tx.to, target_name, operation, call, tx.value)
