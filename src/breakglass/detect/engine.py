"""Evaluating rules over blocks: an index by ``(address, topic0)`` and per-rule failure budgets.

The cost of a block is the number of its logs (one dictionary lookup each) plus the work of
the rules those logs match; it does not grow with the number of rules or watched contracts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import structlog

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule
from breakglass.ingest.events import BlockAdded
from breakglass.ingest.fetch import FetchSpec

__all__ = ["Detector"]

_log = structlog.get_logger("breakglass.detect")


@dataclass
class Detector:
    """Rules of one chain, indexed for evaluation.

    A rule that raises ``failure_budget`` times in a row is disabled; a finding says so and
    the other rules go on.
    """

    chain: str
    rules: Sequence[Rule]
    failure_budget: int = 5
    _by_key: dict[tuple[str, str], list[Rule]] = field(init=False, repr=False)
    _failures: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_key: defaultdict[tuple[str, str], list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for address, topic0 in rule.log_keys():
                by_key[address.lower(), topic0.lower()].append(rule)
        self._by_key = dict(by_key)
        self._failures = {rule.rule_id: 0 for rule in self.rules}

    @property
    def disabled(self) -> list[str]:
        return [r for r, n in self._failures.items() if n >= self.failure_budget]

    def fetch_spec(self) -> FetchSpec:
        """What the stream must fetch per block for these rules."""
        needs = Needs(0)
        for rule in self.rules:
            needs |= rule.needs
        addresses = sorted({address for address, _ in self._by_key})
        return FetchSpec(
            transactions=bool(needs & Needs.TRANSACTIONS),
            logs=True,
            receipts=bool(needs & Needs.RECEIPTS),
            traces=bool(needs & Needs.TRACES),
            addresses=addresses if not needs & ~Needs.LOGS else (),
        )

    def evaluate(self, block: BlockAdded) -> list[Finding]:
        """Every finding of every rule on ``block``."""
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
            if matched is not None:
                findings.extend(self._run(matched, block, raw))
        return findings

    def _run(
        self, rules: Iterable[Rule], block: BlockAdded, raw: dict[str, object]
    ) -> list[Finding]:
        out: list[Finding] = []
        for rule in rules:
            if self._failures[rule.rule_id] >= self.failure_budget:
                continue
            try:
                decoded = rule.codec.decode(raw)
                if decoded is not None:
                    out.extend(rule.on_log(block, decoded))
            except Exception as exc:  # a rule's bug must not blind the others
                out.extend(self._failed(rule, block, exc))
            else:
                self._failures[rule.rule_id] = 0
        return out

    def _failed(self, rule: Rule, block: BlockAdded, exc: Exception) -> list[Finding]:
        self._failures[rule.rule_id] += 1
        count = self._failures[rule.rule_id]
        _log.error(
            "detect.rule_failed",
            rule=rule.rule_id,
            block=block.number,
            consecutive=count,
            error=repr(exc)[:300],
        )
        if count < self.failure_budget:
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
