"""Running rules over the past: one transaction through one rule, or a backfill's logs.

:func:`replay_tx` fetches the tx's block with the detector's own fetch spec and reads the
rule's state at that block, so the rule sees what the monitor would have shown it then.
:class:`LogReplay` runs the log rules over the logs a backfill fetched; it cannot run state,
transaction or trace rules, since a backfill fetches neither bodies, traces nor state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.pool import EndpointPool
from breakglass.detect.alerts import AlertBook, AlertPolicy
from breakglass.detect.engine import Detector
from breakglass.detect.finding import Finding
from breakglass.detect.rule import Rule, load_plugins
from breakglass.detect.setup import build_rules
from breakglass.detect.state import StateReader
from breakglass.errors import ChainError, PlanError
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.ingest.fetch import BlockFetcher
from breakglass.plan.loader import LoadedPlan

__all__ = [
    "LogReplay",
    "UnknownRule",
    "UnknownTransaction",
    "log_replay",
    "replay_tx",
    "rule_chain",
]


class UnknownRule(PlanError):
    """The plan configures no enabled rule of that id (on that chain)."""


class UnknownTransaction(ChainError):
    """The chain does not know the transaction, or it is not mined yet."""


def rule_chain(loaded_plan: LoadedPlan, rule_id: str) -> str:
    """The chain the plan's rule ``rule_id`` runs on.

    Raises:
        UnknownRule: no enabled rule has that id.
        RuleSetupError: the plan's rules cannot be built.
    """
    load_plugins()
    for chain in sorted(loaded_plan.plan.chains):
        if any(rule.rule_id == rule_id for rule in build_rules(loaded_plan, chain=chain)):
            return chain
    raise UnknownRule(_unknown(loaded_plan, rule_id, None))


def _unknown(loaded_plan: LoadedPlan, rule_id: str, chain: str | None) -> str:
    enabled = sorted(r.id for r in loaded_plan.plan.rules if r.enabled)
    where = f" on chain {chain!r}" if chain else ""
    return (
        f"the plan has no enabled rule {rule_id!r}{where} (rules: {', '.join(enabled) or 'none'})"
    )


def _rule(loaded_plan: LoadedPlan, chain: str, rule_id: str) -> Rule:
    load_plugins()
    for rule in build_rules(loaded_plan, chain=chain):
        if rule.rule_id == rule_id:
            return rule
    raise UnknownRule(_unknown(loaded_plan, rule_id, chain))


async def _block_hash_of(pool: EndpointPool, chain: str, tx_hash: str) -> str:
    tx: Any = await pool.request("eth_getTransactionByHash", [tx_hash])
    if not isinstance(tx, dict):
        raise UnknownTransaction(f"{chain}: transaction {tx_hash} not found")
    block_hash = tx.get("blockHash")
    if not isinstance(block_hash, str):
        raise UnknownTransaction(f"{chain}: transaction {tx_hash} is not mined yet")
    return block_hash


async def replay_tx(
    *, loaded_plan: LoadedPlan, chain: str, rule_id: str, tx_hash: str, pool: EndpointPool
) -> list[Finding]:
    """The findings rule ``rule_id`` raises about ``tx_hash`` when replayed at its block.

    Block-wide findings (state rules, a rule disabled by its failures) cannot be pinned to
    one transaction; they are kept, since the tx's block is the one that raised them.

    Args:
        pool: endpoints of ``chain``; the caller closes it.

    Raises:
        UnknownRule: the plan has no enabled rule ``rule_id`` on ``chain``.
        RuleSetupError: the plan's rules of ``chain`` cannot be built.
        UnknownTransaction: the chain does not know ``tx_hash`` or has not mined it.
        ChainError: the endpoints failed.
    """
    tx_hash = tx_hash.lower()
    detector = Detector(chain, [_rule(loaded_plan, chain, rule_id)])
    fetcher = BlockFetcher(pool, detector.fetch_spec())
    header = await fetcher.header_by_hash(await _block_hash_of(pool, chain, tx_hash))
    block = await fetcher.fetch(chain, header)
    calls = detector.state_calls()
    state = await StateReader(pool).read(block.hash, calls) if calls else {}
    return [
        finding
        for finding in detector.evaluate(block, state)
        if finding.tx_hash is None or finding.tx_hash.lower() == tx_hash
    ]


class _LogDetector(Detector):
    """A detector that only runs log rules: a backfill has no state to give block rules,
    which would read every view as failed."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._block_rules = []


def _blocks(chain: str, logs: Iterable[Mapping[str, Any]]) -> list[BlockAdded]:
    """``logs`` grouped into one block each, in block order, keeping their own order.

    The headers carry only number and hash: a backfill never fetched the rest.
    """
    grouped: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for raw in logs:
        number, block_hash = raw.get("blockNumber"), raw.get("blockHash")
        if not isinstance(number, str) or not isinstance(block_hash, str):
            continue  # a pending log; eth_getLogs over mined blocks should not return it
        grouped.setdefault((int(number, 16), block_hash.lower()), []).append(dict(raw))
    return [
        BlockAdded(chain=chain, header=BlockHeader(number, block_hash, "", 0), logs=block_logs)
        for (number, block_hash), block_logs in sorted(grouped.items())
    ]


@dataclass
class LogReplay:
    """Evaluates a backfill's logs with the log rules and stores what they find as alerts.

    Each call to :meth:`on_logs` stores its alerts in one transaction, committed before the
    backfill saves its checkpoint: a rerun after a crash records the same alerts again,
    which the alert book counts as repeats, not new alerts.
    """

    detector: Detector
    fetcher: BlockFetcher
    sessions: sessionmaker[Session]
    book: AlertBook = field(default_factory=AlertBook)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    findings: int = 0
    alerts: int = 0

    async def on_logs(self, logs: list[dict[str, Any]]) -> None:
        """Evaluate ``logs`` (any blocks, in order) and store their findings.

        Raises:
            ChainError: a block with findings has no header (it needs the block's time).
        """
        found: list[tuple[datetime, list[Finding]]] = []
        for block in _blocks(self.detector.chain, logs):
            findings = self.detector.evaluate(block)
            if findings:
                header = await self.fetcher.header_by_hash(block.hash)
                found.append((datetime.fromtimestamp(header.timestamp, UTC), findings))
        if not found:
            return
        with self.sessions.begin() as session:
            for block_time, findings in found:
                self.findings += len(findings)
                alerts = self.book.record(
                    session, findings=findings, block_time=block_time, now=self.clock()
                )
                self.alerts += len(alerts)


def log_replay(
    *, loaded_plan: LoadedPlan, chain: str, pool: EndpointPool, sessions: sessionmaker[Session]
) -> LogReplay | None:
    """A :class:`LogReplay` of ``chain``'s log rules, or ``None`` when it has none.

    Raises:
        RuleSetupError: the plan's rules of ``chain`` cannot be built.
    """
    load_plugins()
    rules = [rule for rule in build_rules(loaded_plan, chain=chain) if any(rule.log_keys())]
    if not rules:
        return None
    book = AlertBook(AlertPolicy.from_plan(loaded_plan.plan))
    return LogReplay(_LogDetector(chain, rules), BlockFetcher(pool), sessions, book)
