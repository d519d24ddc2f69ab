from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from pydantic import Field

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.traces import Signature, address, call_selector, selector_of, walk
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address

_CALLS = frozenset({"CALL", "CALLCODE"})


class PrivilegedCallParams(RuleParams):
    functions: tuple[Signature, ...] = Field(
        min_length=1,
        description="Privileged functions of the watched contracts, e.g. upgradeTo(address), "
        "setOracle(address).",
    )
    allowed_senders: tuple[Address, ...] = Field(
        default=(),
        description="Accounts and contracts (team keys, Safe, timelock) expected to call them.",
    )


class PrivilegedCallUnknownSenderRule(Rule):
    id = "privileged-call-unknown-sender"
    title = "Privileged function called by an unexpected sender"
    category = "access"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "A watched contract's privileged function (upgrade, oracle, owner or fee setter) was "
        "called by an account or contract not on the allowed list, either as a transaction or "
        "as an internal call within one. Reverted attempts are reported too: they show someone "
        "probing the access control. A stolen key or a broken access check shows up here "
        "before the funds move."
    )
    recommendation = (
        "List every key, Safe and timelock that may call these functions; an unknown caller "
        "that succeeded is an incident, pause and rotate keys."
    )
    needs = Needs.TRANSACTIONS | Needs.RECEIPTS | Needs.TRACES
    Params = PrivilegedCallParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(PrivilegedCallParams, setup.params)
        self.functions = {selector_of(f): f for f in params.functions}
        self.allowed = {a.lower() for a in params.allowed_senders}
        self.watched = {t.address for t in setup.targets}

    def tx_keys(self) -> Iterator[tuple[str | None, str | None]]:
        for target in self.setup.targets:
            for selector in self.functions:
                yield target.address, selector

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        reverted = receipt is not None and int(str(receipt.get("status", "0x1")), 16) == 0
        yield from self._check(block, str(tx["hash"]), tx, reverted=reverted, internal=False)

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        # The outermost frame is the transaction itself, which on_tx reports.
        for frame, ancestors in walk(call, reverted=True):
            if ancestors and frame.get("type") in _CALLS:
                reverted = any(f.get("error") for f in (*ancestors, frame))
                yield from self._check(block, tx_hash, frame, reverted=reverted, internal=True)

    def _check(
        self,
        block: BlockAdded,
        tx_hash: str,
        call: Mapping[str, Any],
        *,
        reverted: bool,
        internal: bool,
    ) -> Iterator[Finding]:
        target, sender = address(call, "to"), address(call, "from")
        function = self.functions.get(call_selector(call))
        if target not in self.watched or function is None or sender in self.allowed:
            return
        kind = "internal call" if internal else "transaction"
        outcome = " (reverted)" if reverted else ""
        yield self.finding(
            block,
            None,
            title=f"{sender} called {self.target_name(target)}.{function} by {kind}{outcome}",
            description=self.description,
            addresses=(sender, target),
            data={
                "contract": target,
                "function": function,
                "sender": sender,
                "internal": internal,
                "reverted": reverted,
            },
            severity=Severity.MEDIUM if reverted and self.setup.severity is None else None,
            tx_hash=tx_hash.lower(),
        )
