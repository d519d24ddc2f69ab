from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from pydantic import Field, model_validator

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.common import (
    Expr,
    block_env,
    check_template,
    compile_where,
    contract_env,
    render,
)
from breakglass.detect.traces import address
from breakglass.ingest.events import BlockAdded

_FIXED = ("tx", "block")
_FIELDS = ("hash", "from", "to", "value", "gas", "gas_price", "gas_used", "status", "selector")


class TxParams(RuleParams):
    where: Expr = Field(
        description="Report transactions for which this expression is true, e.g. "
        '`tx.value > 100 * 10**18 or tx.status == 0`. Names: `tx.sender` (or `tx["from"]`: '
        "`from` is a keyword), `tx.to`, `tx.value`, "
        "`tx.gas` (limit), `tx.gas_price`, `tx.gas_used`, `tx.status` (1 succeeded, 0 "
        "reverted), `tx.selector`, `tx.hash`, `block.number`, `block.timestamp` and the "
        "rule's contracts by plan name."
    )
    title: str | None = Field(
        default=None, description="Finding title; fields: `from`, `to`, `value`, `hash`, ..."
    )

    @model_validator(mode="after")
    def _title_fields(self) -> TxParams:
        if self.title is not None:
            check_template(self.title, [*_FIELDS, "contract"])
        return self


class TxYamlRule(Rule):
    id = "tx"
    title = "A transaction matching the plan's expression"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    description = (
        "A transaction to a watched contract (to any address when none is listed) whose "
        "properties (value, gas, sender, recipient, receipt status) satisfy `where`."
    )
    recommendation = (
        "List the contracts: a rule over every transaction of the chain costs a receipt per "
        "transaction."
    )
    needs = Needs.TRANSACTIONS | Needs.RECEIPTS
    Params = TxParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(TxParams, setup.params)
        self.contracts = contract_env(setup.targets)
        self.where = compile_where(setup, self.params.where, _FIXED)

    def tx_keys(self) -> Iterator[tuple[str | None, str | None]]:
        if not self.setup.targets:
            yield None, None
        for target in self.setup.targets:
            yield target.address, None

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        facts = _facts(tx, receipt)
        env = {
            **self.contracts,
            "tx": {**facts, "sender": facts["from"]},
            "block": block_env(block),
        }
        if not self.where.evaluate(env):
            return ()
        contract = self.target_name(facts["to"])
        if self.params.title is not None:
            title = render(self.params.title, {**facts, "contract": contract})
        else:
            title = f"transaction {facts['hash']} from {facts['from']} to {contract}"
        return (
            self.finding(
                block,
                None,
                title=title,
                description=self.description,
                addresses=dict.fromkeys(a for a in (facts["from"], facts["to"]) if a),
                data=facts,
                tx_hash=facts["hash"],
            ),
        )


def _facts(tx: Mapping[str, Any], receipt: Mapping[str, Any] | None) -> dict[str, Any]:
    def number(source: Mapping[str, Any] | None, key: str) -> int | None:
        raw = None if source is None else source.get(key)
        return None if raw is None else int(str(raw), 16)

    data = str(tx.get("input") or "0x").lower()
    return {
        "hash": str(tx["hash"]).lower(),
        "from": address(tx, "from"),
        "to": address(tx, "to"),
        "value": number(tx, "value") or 0,
        "gas": number(tx, "gas"),
        "gas_price": number(tx, "gasPrice") or number(receipt, "effectiveGasPrice"),
        "gas_used": number(receipt, "gasUsed"),
        "status": number(receipt, "status"),
        "selector": data[:10] if len(data) >= 10 else "",
    }
