"""Evaluating rules over blocks: an index by ``(address, topic0)`` and per-rule failure budgets.

The cost of a block is the number of its logs (one dictionary lookup each) plus the work of
the rules those logs match; it does not grow with the number of rules or watched contracts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from breakglass.chain.codec import CodecError, DecodedLog, LogCodec
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.ingest.fetch import FetchSpec

__all__ = ["Detector"]

_log = structlog.get_logger("breakglass.detect")


def _overrides(rule: Rule, name: str) -> bool:
    return getattr(type(rule), name) is not getattr(Rule, name)


@dataclass
class Detector:
    """Rules of one chain, indexed for evaluation.

    A rule that raises ``failure_budget`` times in a row is disabled and the other rules go
    on. With ``report_disabled`` a finding of kind ``rule-disabled`` says so in the block
    that tripped it (backfills and replays); the live monitor turns it off and reports the
    open breaker as a standing health condition instead, because a finding under the
    rule's own id would start the playbooks bound to that rule.
    """

    chain: str
    rules: Sequence[Rule]
    failure_budget: int = 5
    report_disabled: bool = True
    _by_key: dict[tuple[str, str], list[tuple[LogCodec, list[Rule]]]] = field(
        init=False, repr=False
    )
    _by_tx: dict[tuple[str | None, str | None], list[Rule]] = field(init=False, repr=False)
    _tracers: list[Rule] = field(init=False, repr=False)
    _block_rules: list[Rule] = field(init=False, repr=False)
    _failures: dict[str, int] = field(init=False, repr=False)
    _errors: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_key: defaultdict[tuple[str, str], list[Rule]] = defaultdict(list)
        by_tx: defaultdict[tuple[str | None, str | None], list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for address, topic0 in rule.log_keys():
                by_key[address.lower(), topic0.lower()].append(rule)
            for to, selector in rule.tx_keys():
                by_tx[to.lower() if to else None, selector.lower() if selector else None].append(
                    rule
                )
        # Rules on one key that share a codec decode the log once between them.
        self._by_key = {}
        for key, rules in by_key.items():
            groups: dict[int, tuple[LogCodec, list[Rule]]] = {}
            for rule in rules:
                groups.setdefault(id(rule.codec), (rule.codec, []))[1].append(rule)
            self._by_key[key] = list(groups.values())
        self._by_tx = dict(by_tx)
        # ``needs`` is read from the instance: one rule class may need traces only for some
        # configurations (large-outflow watching native value).
        self._tracers = [
            r for r in self.rules if _overrides(r, "on_trace") and Needs.TRACES in r.needs
        ]
        self._block_rules = [r for r in self.rules if _overrides(r, "on_block")]
        self._failures = {rule.rule_id: 0 for rule in self.rules}
        self._errors = {}

    @property
    def disabled(self) -> list[str]:
        return [r for r, n in self._failures.items() if n >= self.failure_budget]

    def disabled_errors(self) -> dict[str, str]:
        """Each disabled rule's last error, by rule id."""
        return {rule: self._errors.get(rule, "") for rule in self.disabled}

    def state_calls(self) -> list[StateCall]:
        """Every view call the rules read per block, each once."""
        return list(dict.fromkeys(c for rule in self._block_rules for c in rule.state_calls()))

    def fetch_spec(self) -> FetchSpec:
        """What the stream must fetch per block for these rules."""
        needs = Needs(0)
        for rule in self.rules:
            needs |= rule.needs
        addresses = sorted({address for address, _ in self._by_key})
        return FetchSpec(
            transactions=bool(needs & Needs.TRANSACTIONS) or bool(self._by_tx),
            logs=True,
            receipts=bool(needs & Needs.RECEIPTS),
            traces=bool(self._tracers),
            # State is read by view calls, not from the block: it does not widen the logs.
            addresses=addresses
            if not needs & ~(Needs.LOGS | Needs.STATE) and not self._by_tx
            else (),
        )

    def evaluate(
        self, block: BlockAdded, state: Mapping[StateCall, Any] | None = None
    ) -> list[Finding]:
        """Every finding of every rule on ``block``; ``state`` is what :meth:`state_calls`
        read at it (see :class:`~breakglass.detect.state.StateReader`)."""
        findings: list[Finding] = []
        by_key = self._by_key
        for raw in block.logs:
            topics = raw.get("topics")
            if not topics:
                continue
            address = raw.get("address")
            if not isinstance(address, str):
                continue
            matched = by_key.get((address.lower(), str(topics[0]).lower()))
            if matched is None:
                continue
            for codec, rules in matched:
                try:
                    decoded = codec.decode(raw)
                except CodecError as exc:  # the chain's data, not a rule's bug
                    _log.warning("detect.undecodable_log", block=block.number, error=str(exc)[:300])
                    continue
                if decoded is not None:
                    self._on_log(rules, block, decoded, findings)
        if self._by_tx and block.block is not None:
            findings.extend(self._transactions(block))
        if self._tracers and block.traces:
            for entry in block.traces:
                tx_hash, frame = entry.get("txHash"), entry.get("result")
                if isinstance(tx_hash, str) and isinstance(frame, dict):
                    for rule in self._tracers:
                        findings.extend(
                            self._guard(rule, block, partial(rule.on_trace, block, tx_hash, frame))
                        )
        for rule in self._block_rules:
            findings.extend(self._guard(rule, block, partial(rule.on_block, block, state or {})))
        return findings

    def _on_log(
        self, rules: list[Rule], block: BlockAdded, decoded: DecodedLog, findings: list[Finding]
    ) -> None:
        # The hot path: one call per matching rule, the guard inlined.
        failures, budget = self._failures, self.failure_budget
        for rule in rules:
            rule_id = rule.setup.rule_id
            if failures[rule_id] >= budget:
                continue
            try:
                findings.extend(rule.on_log(block, decoded))
            except Exception as exc:  # a rule's bug must not blind the others
                findings.extend(self._failed(rule, block, exc))
                continue
            if failures[rule_id]:
                failures[rule_id] = 0

    def _transactions(self, block: BlockAdded) -> list[Finding]:
        assert block.block is not None
        findings: list[Finding] = []
        receipts = block.receipts or []
        by_tx = self._by_tx
        anything = by_tx.get((None, None), [])
        for index, tx in enumerate(block.block.get("transactions", ())):
            if not isinstance(tx, dict):
                continue  # hashes only: the stream was not asked for bodies
            to = str(tx.get("to") or "").lower() or None
            selector = str(tx.get("input") or "0x")[:10].lower()
            matched = [
                *by_tx.get((to, selector), ()),
                *by_tx.get((to, None), ()),
                *by_tx.get((None, selector), ()),
                *anything,
            ]
            receipt = receipts[index] if index < len(receipts) else None
            for rule in dict.fromkeys(matched):
                findings.extend(self._guard(rule, block, partial(rule.on_tx, block, tx, receipt)))
        return findings

    def _guard(
        self, rule: Rule, block: BlockAdded, call: Callable[[], Iterable[Finding]]
    ) -> list[Finding]:
        if self._failures[rule.rule_id] >= self.failure_budget:
            return []
        try:
            found = list(call())
        except Exception as exc:  # a rule's bug must not blind the others
            return self._failed(rule, block, exc)
        self._failures[rule.rule_id] = 0
        return found

    def _failed(self, rule: Rule, block: BlockAdded, exc: Exception) -> list[Finding]:
        self._failures[rule.rule_id] += 1
        count = self._failures[rule.rule_id]
        self._errors[rule.rule_id] = repr(exc)[:300]
        _log.error(
            "detect.rule_failed",
            rule=rule.rule_id,
            block=block.number,
            consecutive=count,
            error=repr(exc)[:300],
        )
        if count < self.failure_budget or not self.report_disabled:
            return []
        return [
            Finding(
                rule=rule.rule_id,
                kind="rule-disabled",
                chain=block.chain,
                block_number=block.number,
                block_hash=block.hash,
                severity=Severity.HIGH,
                confidence=Confidence.HIGH,
                title=f"rule {rule.rule_id} disabled after {count} failures in a row",
                description=f"Detection for {rule.rule_id} is off until restarted. "
                f"Last error: {exc!r}"[:500],
            )
        ]
