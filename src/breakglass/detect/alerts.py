"""From findings to alerts: dedupe, grouping and suppression, retraction on reorgs.

One exploit can make a rule fire on every one of a thousand transfers. The alert book keeps
each finding once (by :attr:`Finding.dedupe_key`), lets one alert per rule and group page
within ``suppress_for`` of block time and records the rest as ``suppressed``, and hands every
stored alert to :func:`~breakglass.detect.correlate.correlate`.

A flood is folded before it is stored: at most ``per_block`` alerts per rule and block and
``per_minute`` per rule and minute of block time, the rest of that rule's findings in the
block carried by one more alert that counts them. An attacker who makes a rule fire a
thousand times in one block gets 21 rows, not 1,000 database transactions in front of the
next block; one who keeps it up gets one row per block once the minute's budget is spent.

Suppression never hides a new episode: a finding the responder acted on (its pause targets
were found unpaused) is passed as ``fresh`` and stored as a new alert, and its block starts
an episode of the chain: alerts from then on are never suppressed by earlier ones.

Every alert to notify is also written to the outbox as an
:class:`~breakglass.events.AlertRaised` (a retraction as an
:class:`~breakglass.events.AlertRetracted`) in the caller's session: the incident desk hears
of exactly the alerts that committed, after a crash as well as before one.

Grouping settings are not plan fields: rule ``params`` are validated strictly per rule type,
so they live in :class:`AlertPolicy` (defaults below, per-rule overrides by rule id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.detect.correlate import correlate, recompute, stage_of
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import registered_rules
from breakglass.events import AlertRaised, AlertRetracted, emit
from breakglass.plan.models import Plan
from breakglass.store import (
    AlertOutcome,
    AlertRecord,
    AlertStatus,
    IncidentCandidate,
    NewAlert,
    record_alert,
    retract_alerts,
)

__all__ = [
    "DEFAULT_CORRELATE_WITHIN",
    "DEFAULT_PER_BLOCK",
    "DEFAULT_PER_MINUTE",
    "DEFAULT_SUPPRESS_FOR",
    "Alert",
    "AlertBook",
    "AlertPolicy",
    "GroupBy",
    "Grouping",
    "alert_is_live",
    "alert_raised",
    "fold_flood",
    "new_alert",
    "stored_alert_raised",
]

DEFAULT_SUPPRESS_FOR = timedelta(minutes=10)
DEFAULT_CORRELATE_WITHIN = timedelta(minutes=30)
DEFAULT_PER_BLOCK = 20
DEFAULT_PER_MINUTE = 60


class GroupBy(StrEnum):
    """What makes two firings of one rule the same page."""

    CONTRACT = "contract"  # the first address of the finding: the emitting contract
    TX = "tx"


@dataclass(frozen=True)
class Grouping:
    suppress_for: timedelta = DEFAULT_SUPPRESS_FOR
    group_by: GroupBy = GroupBy.CONTRACT


@dataclass(frozen=True)
class AlertPolicy:
    """Suppression and correlation settings; ``rules`` overrides ``default`` per rule id."""

    default: Grouping = Grouping()
    rules: Mapping[str, Grouping] = field(default_factory=dict)
    correlate_within: timedelta = DEFAULT_CORRELATE_WITHIN
    per_block: int = DEFAULT_PER_BLOCK
    per_minute: int = DEFAULT_PER_MINUTE

    def grouping(self, rule: str) -> Grouping:
        return self.rules.get(rule, self.default)

    @classmethod
    def from_plan(cls, plan: Plan) -> AlertPolicy:
        """The plan's ``alerting:`` section, with each rule's own overrides."""
        alerting = plan.alerting
        default = Grouping(alerting.suppress_for, GroupBy(alerting.group_by.value))
        overrides = {
            rule.id: Grouping(
                rule.suppress_for or default.suppress_for,
                GroupBy(rule.group_by.value) if rule.group_by else default.group_by,
            )
            for rule in plan.rules
            if rule.suppress_for is not None or rule.group_by is not None
        }
        return cls(default=default, rules=overrides, correlate_within=alerting.correlate_within)


@dataclass(frozen=True, slots=True)
class Alert:
    """A stored alert: the finding it was raised for, detached from the database session."""

    id: int
    finding: Finding
    status: AlertStatus
    count: int
    incident_candidate_id: int | None = None
    block_time: datetime | None = None
    first_seen: datetime | None = None

    @property
    def dedupe_key(self) -> str:
        return self.finding.dedupe_key

    @classmethod
    def from_record(cls, row: AlertRecord) -> Alert:
        finding = Finding(
            rule=row.rule,
            kind=row.kind,
            chain=row.chain,
            block_number=row.block_number,
            block_hash=row.block_hash,
            severity=Severity(row.severity),
            confidence=Confidence(row.confidence),
            title=row.title,
            description=row.description,
            tx_hash=row.tx_hash,
            log_index=row.log_index,
            addresses=tuple(row.addresses),
            data=dict(row.data),
        )
        status = AlertStatus(row.status)
        return cls(
            row.id,
            finding,
            status,
            row.count,
            row.incident_candidate_id,
            row.block_time,
            row.first_seen,
        )


def new_alert(
    finding: Finding, *, block_time: datetime, group_by: GroupBy, stage: str | None = None
) -> NewAlert:
    """The alert to store for ``finding``, keyed by its dedupe key."""
    if group_by is GroupBy.TX:
        group = finding.tx_hash or finding.block_hash
    else:
        group = finding.addresses[0] if finding.addresses else finding.block_hash
    return NewAlert(
        dedupe_key=finding.dedupe_key,
        group_key=f"{finding.rule}:{finding.chain}:{group_by}:{group}",
        rule=finding.rule,
        kind=finding.kind,
        chain=finding.chain,
        block_number=finding.block_number,
        block_hash=finding.block_hash,
        block_time=block_time,
        severity=str(finding.severity),
        confidence=str(finding.confidence),
        title=finding.title,
        description=finding.description,
        tx_hash=finding.tx_hash,
        log_index=finding.log_index,
        stage=stage,
        addresses=tuple(a.lower() for a in finding.addresses),
        data={str(k): _jsonable(v) for k, v in finding.data.items()},
    )


_SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(Severity)}


def fold_flood(findings: Sequence[Finding], *, limit: int | Mapping[str, int]) -> list[Finding]:
    """At most ``limit`` findings per rule (or ``limit[rule]``), plus one that carries the
    rest of that rule's.

    The carrier is the most severe of the rest (the first among equals); its title and
    ``data`` say how many findings it stands for and name some of their transactions.
    Folding is deterministic, so a block delivered again folds into the same dedupe keys.
    """
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    limits = {rule: limit if isinstance(limit, int) else limit[rule] for rule in by_rule}
    if all(len(group) <= limits[rule] for rule, group in by_rule.items()):
        return list(findings)
    kept: list[Finding] = []
    for rule, group in by_rule.items():
        kept += group[: limits[rule]]
        rest = group[limits[rule] :]
        if not rest:
            continue
        carrier = min(rest, key=lambda f: _SEVERITY_ORDER.get(f.severity, 0))
        txs = list(dict.fromkeys(f.tx_hash for f in rest if f.tx_hash))
        kept.append(
            replace(
                carrier,
                title=f"{carrier.title} (and {len(rest) - 1} more of {rule} in block "
                f"{carrier.block_number})",
                data={**carrier.data, "folded": len(rest), "folded_txs": txs[:20]},
            )
        )
    return kept


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _categories() -> dict[str, str]:
    return {kind: cls.category for kind, cls in registered_rules().items()}


@dataclass
class AlertBook:
    """Records findings as alerts; call it inside the delivery's transaction.

    ``categories`` maps rule types to their category, for attack stages of kinds that
    :data:`~breakglass.detect.correlate.STAGE_OF_KIND` does not name.
    """

    policy: AlertPolicy = field(default_factory=AlertPolicy)
    categories: Mapping[str, str] = field(default_factory=_categories)
    _minutes: dict[str, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)
    """Per rule: the minute of block time being counted and the alerts stored in it."""
    episode_start: int | None = None
    """The latest block a response started in (kept in memory: after a restart suppression
    falls back to the window alone). Blocks, not times: consecutive blocks can share a
    timestamp."""

    def record(
        self,
        session: Session,
        *,
        findings: Iterable[Finding],
        block_time: datetime,
        now: datetime,
        fresh: Collection[str] = (),
    ) -> list[Alert]:
        """Store ``findings``; returns the alerts to notify (new and not suppressed).

        Args:
            block_time: the timestamp of the findings' block; windows are in block time.
            now: wall-clock time, for ``first_seen``/``last_seen``.
            fresh: dedupe keys of findings that start a new episode (the responder acted
                on them): never suppressed.
        """
        to_notify: list[AlertRecord] = []
        stored: list[AlertRecord] = []
        findings = self._fold(list(findings), block_time)
        if fresh and findings:
            self.episode_start = findings[0].block_number
        for finding in findings:
            grouping = self.policy.grouping(finding.rule)
            stage = stage_of(finding.kind, self.categories.get(finding.kind))
            alert = new_alert(
                finding, block_time=block_time, group_by=grouping.group_by, stage=stage
            )
            window = timedelta(0) if finding.dedupe_key in fresh else grouping.suppress_for
            row, outcome = record_alert(
                session,
                alert=alert,
                suppress_for=window,
                now=now,
                episode_start=self.episode_start,
            )
            if outcome is AlertOutcome.REPEAT:
                continue
            stored.append(row)
            if outcome is AlertOutcome.NEW:
                to_notify.append(row)
        if stored:
            correlate(session, alerts=stored, window=self.policy.correlate_within, now=now)
        raised = [Alert.from_record(row) for row in to_notify]
        for one in raised:
            emit(session, alert_raised(one, at=now))
        return raised

    def _fold(self, findings: list[Finding], block_time: datetime) -> list[Finding]:
        """Fold a flood within the per-block and per-minute budgets of each rule."""
        if not findings:
            return findings
        minute = int(block_time.timestamp() // 60)
        budgets: dict[str, int] = {}
        for rule, count in Counter(f.rule for f in findings).items():
            counted, used = self._minutes.get(rule, (minute, 0))
            used = used if counted == minute else 0
            budgets[rule] = max(0, min(self.policy.per_block, self.policy.per_minute - used))
            self._minutes[rule] = (minute, used + min(count, budgets[rule]))
        return fold_flood(findings, limit=budgets)

    def retract(self, session: Session, *, chain: str, block_hash: str) -> list[Alert]:
        """Retract the alerts of an orphaned block and recompute their candidates."""
        rows = retract_alerts(session, chain=chain, block_hash=block_hash)
        touched = {row.incident_candidate_id for row in rows} - {None}
        for candidate_id in sorted(c for c in touched if c is not None):
            candidate = session.get(IncidentCandidate, candidate_id)
            if candidate is not None:
                recompute(session, candidate=candidate)
        now = datetime.now(UTC)
        for row in rows:
            emit(
                session,
                AlertRetracted(
                    event_id=AlertRetracted.key(row.dedupe_key, row.block_hash),
                    occurred_at=now,
                    alert_id=row.id,
                    dedupe_key=row.dedupe_key,
                    chain=row.chain,
                    block_hash=row.block_hash,
                ),
            )
        return [Alert.from_record(row) for row in rows]


def alert_raised(alert: Alert, *, at: datetime) -> AlertRaised:
    """The event that tells the other stages of a stored alert."""
    found = alert.finding
    return AlertRaised(
        event_id=AlertRaised.key(found.dedupe_key, found.block_hash),
        occurred_at=at,
        alert_id=alert.id,
        dedupe_key=found.dedupe_key,
        rule=found.rule,
        chain=found.chain,
        block_number=found.block_number,
        block_hash=found.block_hash,
        severity=str(found.severity),
        title=found.title,
        tx_hash=found.tx_hash,
        kind=found.kind,
        description=found.description,
        addresses=list(found.addresses),
        block_time=alert.block_time,
        first_seen=alert.first_seen,
        confidence=str(found.confidence),
        candidate_id=alert.incident_candidate_id,
    )


def stored_alert_raised(session: Session, dedupe_key: str, *, at: datetime) -> AlertRaised | None:
    """The ``AlertRaised`` of the stored alert ``dedupe_key`` (``None`` if unknown), for a
    caller that hands an alert to the incident desk without a relay."""
    row = session.scalars(select(AlertRecord).where(AlertRecord.dedupe_key == dedupe_key)).first()
    if row is None:
        return None
    return alert_raised(Alert.from_record(row), at=at)


def alert_is_live(session: Session, alert_id: int) -> bool:
    """Whether the stored alert ``alert_id`` still stands (not retracted by a reorg): an
    ``AlertRaised`` handled after its block was orphaned opens nothing."""
    row = session.get(AlertRecord, alert_id)
    return row is not None and row.status != AlertStatus.RETRACTED
