from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from eth_abi.abi import default_codec
from pydantic import Field, field_validator, model_validator

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.common import (
    Expr,
    Signature,
    block_env,
    check_template,
    compile_where,
    contract_env,
    parse_signature,
    plain,
    render,
)
from breakglass.detect.traces import address, call_selector, frame_value, selector_of, walk
from breakglass.ingest.events import BlockAdded

_FIXED = ("tx", "call", "block")
_CALLS = frozenset({"CALL", "CALLCODE"})


class CallParams(RuleParams):
    function: str = Field(
        description="The function, e.g. `upgradeTo(address)` or "
        "`upgradeTo(address newImplementation)` to name its arguments (default `arg0`, ...)."
    )
    where: Expr | None = Field(
        default=None,
        description="Report only calls for which this expression is true. Names: the "
        'decoded arguments, `tx.sender` (or `tx["from"]`: `from` is a keyword), `tx.to`, '
        "`tx.value`, `tx.hash` (the transaction), `call.sender`, `call.to`, `call.value`, "
        "`call.internal`, `call.reverted` (this call), "
        "`block.number`, `block.timestamp` and the rule's contracts by plan name.",
    )
    title: str | None = Field(
        default=None,
        description="Finding title; fields are the arguments, `contract` and `sender`.",
    )

    @field_validator("function")
    @classmethod
    def _parses(cls, text: str) -> str:
        parse_signature(text, event=False)
        return text

    @model_validator(mode="after")
    def _title_fields(self) -> CallParams:
        if self.title is not None:
            names = [p.name for p in parse_signature(self.function, event=False).params]
            check_template(self.title, [*names, "contract", "sender"])
        return self


class CallYamlRule(Rule):
    id = "call"
    title = "A function call declared in the plan"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "A transaction or an internal call (from a call trace) invoked `function` on a "
        "watched contract (any contract when none is listed), and `where` (if given) holds "
        "over its decoded arguments. Reverted calls are reported too: `call.reverted` tells."
    )
    recommendation = (
        "Watch privileged functions (upgrades, role and oracle changes); filter the expected "
        "callers out with `where: tx.from != ...`."
    )
    needs = Needs.TRANSACTIONS | Needs.RECEIPTS | Needs.TRACES
    Params = CallParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(CallParams, setup.params)
        self.signature: Signature = parse_signature(self.params.function, event=False)
        self.selector = selector_of(self.signature.canonical)
        self.types = [p.type for p in self.signature.params]
        self.watched = {t.address for t in setup.targets}
        self.contracts = contract_env(setup.targets)
        self.where = None
        if self.params.where is not None:
            args = [p.name for p in self.signature.params]
            self.where = compile_where(setup, self.params.where, [*_FIXED, *args])

    def tx_keys(self) -> Iterator[tuple[str | None, str | None]]:
        if not self.watched:
            yield None, self.selector
        for target in self.watched:
            yield target, self.selector

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        reverted = receipt is not None and int(str(receipt.get("status", "0x1")), 16) == 0
        frame = {**tx, "value": tx.get("value") or "0x0"}
        yield from self._check(block, str(tx["hash"]), tx, frame, internal=False, reverted=reverted)

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        # The outermost frame is the transaction itself, which on_tx reports.
        for frame, ancestors in walk(call, reverted=True):
            if not ancestors or frame.get("type") not in _CALLS:
                continue
            if call_selector(frame) != self.selector:
                continue
            reverted = any(f.get("error") for f in (*ancestors, frame))
            yield from self._check(block, tx_hash, call, frame, internal=True, reverted=reverted)

    def _check(
        self,
        block: BlockAdded,
        tx_hash: str,
        tx: Mapping[str, Any],
        frame: Mapping[str, Any],
        *,
        internal: bool,
        reverted: bool,
    ) -> Iterator[Finding]:
        target, sender = address(frame, "to"), address(frame, "from")
        if self.watched and target not in self.watched:
            return
        args = self._decode(str(frame.get("input") or "0x"))
        if args is None:
            return  # the selector matched but the arguments are not this function's
        if self.where is not None:
            env: dict[str, Any] = {
                **self.contracts,
                "tx": {
                    "from": address(tx, "from"),
                    "sender": address(tx, "from"),
                    "to": address(tx, "to"),
                    "value": frame_value(tx),
                    "hash": tx_hash.lower(),
                },
                "call": {
                    "from": sender,
                    "sender": sender,
                    "to": target,
                    "value": frame_value(frame),
                    "internal": internal,
                    "reverted": reverted,
                },
                "block": block_env(block),
                **args,
            }
            if not self.where.evaluate(env):
                return
        contract = self.target_name(target)
        if self.params.title is not None:
            title = render(self.params.title, {"contract": contract, "sender": sender, **args})
        else:
            kind = "internal call" if internal else "transaction"
            outcome = " (reverted)" if reverted else ""
            title = f"{sender} called {contract}.{self.signature.canonical} by {kind}{outcome}"
        yield self.finding(
            block,
            None,
            title=title,
            description=self.description,
            addresses=(sender, target),
            data={
                "function": self.signature.canonical,
                "contract": target,
                "sender": sender,
                "args": args,
                "internal": internal,
                "reverted": reverted,
            },
            tx_hash=tx_hash.lower(),
        )

    def _decode(self, data: str) -> dict[str, Any] | None:
        try:
            values = default_codec.decode(self.types, bytes.fromhex(data[10:]))
        except Exception:  # eth-abi raises many types for short or malformed data
            return None
        return {p.name: plain(v) for p, v in zip(self.signature.params, values, strict=True)}
