"""From findings to alerts: dedupe, grouping and suppression, retraction on reorgs.

One exploit can make a rule fire on every one of a thousand transfers. The alert book keeps
each finding once (by :attr:`Finding.dedupe_key`), lets one alert per rule and group page
within ``suppress_for`` of block time and records the rest as ``suppressed``, and hands every
stored alert to :func:`~breakglass.detect.correlate.correlate`.

Grouping settings are not plan fields: rule ``params`` are validated strictly per rule type,
so they live in :class:`AlertPolicy` (defaults below, per-rule overrides by rule id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from breakglass.detect.correlate import correlate, recompute, stage_of
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import registered_rules
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
    "DEFAULT_SUPPRESS_FOR",
    "Alert",
    "AlertBook",
    "AlertPolicy",
    "GroupBy",
    "Grouping",
    "new_alert",
]

DEFAULT_SUPPRESS_FOR = timedelta(minutes=10)
DEFAULT_CORRELATE_WITHIN = timedelta(minutes=30)


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
        return cls(row.id, finding, status, row.count, row.incident_candidate_id)


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

    def record(
        self,
        session: Session,
        *,
        findings: Iterable[Finding],
        block_time: datetime,
        now: datetime,
    ) -> list[Alert]:
        """Store ``findings``; returns the alerts to notify (new and not suppressed).

        Args:
            block_time: the timestamp of the findings' block; windows are in block time.
            now: wall-clock time, for ``first_seen``/``last_seen``.
        """
        to_notify: list[AlertRecord] = []
        stored: list[AlertRecord] = []
        for finding in findings:
            grouping = self.policy.grouping(finding.rule)
            stage = stage_of(finding.kind, self.categories.get(finding.kind))
            alert = new_alert(
                finding, block_time=block_time, group_by=grouping.group_by, stage=stage
            )
            row, outcome = record_alert(
                session, alert=alert, suppress_for=grouping.suppress_for, now=now
            )
            if outcome is AlertOutcome.REPEAT:
                continue
            stored.append(row)
            if outcome is AlertOutcome.NEW:
                to_notify.append(row)
        if stored:
            correlate(session, alerts=stored, window=self.policy.correlate_within, now=now)
        return [Alert.from_record(row) for row in to_notify]

    def retract(self, session: Session, *, chain: str, block_hash: str) -> list[Alert]:
        """Retract the alerts of an orphaned block and recompute their candidates."""
        rows = retract_alerts(session, chain=chain, block_hash=block_hash)
        touched = {row.incident_candidate_id for row in rows} - {None}
        for candidate_id in sorted(c for c in touched if c is not None):
            candidate = session.get(IncidentCandidate, candidate_id)
            if candidate is not None:
                recompute(session, candidate=candidate)
        return [Alert.from_record(row) for row in rows]
