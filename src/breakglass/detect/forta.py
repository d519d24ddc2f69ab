"""Forta in and out: its alerts as findings of a detection source, and breakglass findings as
Forta-shaped findings for teams that feed other tools.

Alerts are read as Forta's GraphQL ``alerts`` query returns them (the whole response, its
``alerts`` list, or a bare list). Each becomes a :class:`Finding` of rule
``forta-<alert id>`` on the plan's chain with the alert's chain id; severity maps one to one
(``UNKNOWN`` counts as ``info``), the finding type sets the confidence (an exploit is high, a
suspicion medium, the rest low). Alerts are deduplicated on their ``hash``: within one batch,
and across batches through the alert store, whose key holds the hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.detect.alerts import AlertBook, AlertPolicy
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.errors import PlanError
from breakglass.plan.models.plan import Plan
from breakglass.store.models import AlertRecord

__all__ = [
    "FortaBatch",
    "FortaInputError",
    "findings_from_forta",
    "iter_stored",
    "record_forta_alerts",
    "to_forta_finding",
]

_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
    "INFO": Severity.INFO,
    "UNKNOWN": Severity.INFO,
}
_CONFIDENCE = {"EXPLOIT": Confidence.HIGH, "SUSPICIOUS": Confidence.MEDIUM}
_OUT_TYPE = {
    Severity.CRITICAL: "EXPLOIT",
    Severity.HIGH: "SUSPICIOUS",
    Severity.MEDIUM: "SUSPICIOUS",
    Severity.LOW: "INFO",
    Severity.INFO: "INFO",
}
_NOT_ID = re.compile(r"[^a-z0-9]+")


class FortaInputError(PlanError):
    """The document is not a list of Forta alerts."""


@dataclass
class FortaBatch:
    """Findings from one document, and what was left out and why."""

    findings: list[Finding] = field(default_factory=list)
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)


def _alerts(document: Any) -> list[Any]:
    if isinstance(document, dict):
        document = document.get("data", document)
        document = document.get("alerts", document) if isinstance(document, dict) else document
        document = document.get("alerts", document) if isinstance(document, dict) else document
    if not isinstance(document, list):
        raise FortaInputError("expected Forta alerts: a list, or an alerts query response")
    return document


def findings_from_forta(document: Any, plan: Plan, *, seen: set[str] | None = None) -> FortaBatch:
    """The findings of every alert in ``document`` on one of the plan's chains.

    Args:
        seen: alert hashes already taken (updated); a repeated hash is counted, not kept.

    Raises:
        FortaInputError: the document is not a list of alerts.
    """
    chains = {chain.chain_id: name for name, chain in plan.chains.items()}
    seen = set() if seen is None else seen
    batch = FortaBatch()
    for index, alert in enumerate(_alerts(document)):
        if not isinstance(alert, dict) or not alert.get("hash") or not alert.get("alertId"):
            batch.skipped.append(f"alert {index}: no hash or alertId")
            continue
        alert_hash = str(alert["hash"])
        if alert_hash in seen:
            batch.duplicates += 1
            continue
        source = alert.get("source") or {}
        block = source.get("block") or {}
        chain = chains.get(int(block.get("chainId") or 0))
        if chain is None:
            batch.skipped.append(
                f"{alert_hash}: chain id {block.get('chainId')} is not in the plan"
            )
            continue
        seen.add(alert_hash)
        alert_id = str(alert["alertId"])
        finding_type = str(alert.get("findingType") or "UNKNOWN").upper()
        batch.findings.append(
            Finding(
                rule=f"forta-{_NOT_ID.sub('-', alert_id.lower()).strip('-')}"[:64],
                kind="forta",
                chain=chain,
                block_number=int(block.get("number") or 0),
                block_hash=str(block.get("hash") or alert_hash),
                severity=_SEVERITY.get(str(alert.get("severity")).upper(), Severity.INFO),
                confidence=_CONFIDENCE.get(finding_type, Confidence.LOW),
                title=str(alert.get("name") or alert_id),
                description=str(alert.get("description") or ""),
                tx_hash=source.get("transactionHash") or None,
                addresses=tuple(str(a).lower() for a in alert.get("addresses") or ()),
                data={
                    "forta_hash": alert_hash,
                    "alert_id": alert_id,
                    "finding_type": finding_type,
                    "bot": (source.get("bot") or {}).get("id"),
                    "protocol": alert.get("protocol"),
                    "metadata": alert.get("metadata") or {},
                },
            )
        )
    return batch


def record_forta_alerts(
    session: Session, plan: Plan, document: Any, *, now: datetime | None = None
) -> tuple[FortaBatch, int]:
    """Store the alerts of ``document`` like any rule's findings; returns the batch and how
    many alerts are new (an alert hash stored before is not stored again)."""
    stored = {
        str(row.get("forta_hash"))
        for row in session.scalars(select(AlertRecord.data).where(AlertRecord.kind == "forta"))
    }
    batch = findings_from_forta(document, plan, seen=stored)
    now = now or datetime.now(UTC)
    book = AlertBook(AlertPolicy.from_plan(plan))
    new = 0
    for finding in batch.findings:
        new += len(book.record(session, findings=[finding], block_time=now, now=now))
    return batch, new


def to_forta_finding(alert: AlertRecord | Finding, *, protocol: str) -> dict[str, Any]:
    """A breakglass alert (or finding) in the shape of a Forta finding."""
    severity = Severity(alert.severity)
    chain_hash = alert.tx_hash
    metadata: Mapping[str, Any] = {
        "rule": alert.rule,
        "kind": alert.kind,
        "chain": alert.chain,
        "blockNumber": alert.block_number,
        **({} if not isinstance(alert.data, Mapping) else _flat(alert.data)),
    }
    return {
        "name": alert.title,
        "description": alert.description,
        "alertId": f"BREAKGLASS-{alert.rule.upper()}",
        "protocol": protocol,
        "severity": "INFO" if severity is Severity.INFO else severity.value.upper(),
        "findingType": _OUT_TYPE[severity],
        "metadata": {k: str(v) for k, v in metadata.items()},
        "addresses": list(alert.addresses),
        "labels": [],
        "uniqueKey": f"{alert.rule}:{alert.chain}:{chain_hash or alert.block_hash}",
        "source": {
            "transactionHash": chain_hash,
            "block": {"number": alert.block_number, "hash": alert.block_hash},
        },
    }


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def iter_stored(session: Session) -> Iterable[AlertRecord]:
    """Every stored alert, oldest first."""
    return session.scalars(select(AlertRecord).order_by(AlertRecord.id)).all()
