"""Correlating alerts into incident candidates, and how much multi-stage evidence weighs.

An exploit rarely shows as one event. It is funded (often from a mixer), prepared (an attack
contract deployed, a role granted, a proxy upgraded), executed (outflows, flash loans) and
laundered (transfers to mixers and bridges). Alerts that share an address, a transaction or a
contract within a window are taken as one candidate incident, and each further distinct stage
it shows raises the confidence that it is an attack rather than noise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from breakglass.store import (
    AlertRecord,
    IncidentCandidate,
    live_alert_stages,
    merge_incident_candidates,
    open_incident_candidate,
    related_incident_candidates,
)

__all__ = [
    "CONFIDENCE_BY_STAGE_COUNT",
    "STAGE_OF_CATEGORY",
    "STAGE_OF_KIND",
    "Stage",
    "confidence_of",
    "correlate",
    "recompute",
    "stage_of",
]


class Stage(StrEnum):
    """Attack stages, in the order an attack goes through them."""

    FUNDING = "funding"
    PREPARATION = "preparation"
    EXPLOITATION = "exploitation"
    LAUNDERING = "laundering"


# Rule kinds first; kinds not listed fall back to their rule's category. Kinds named here
# that no built-in rule has yet are the ones plugins are expected to use.
STAGE_OF_KIND: Mapping[str, Stage] = {
    "mixer-withdrawal": Stage.FUNDING,
    "funded-from-mixer": Stage.FUNDING,
    "contract-created": Stage.PREPARATION,
    "attack-contract-deployed": Stage.PREPARATION,
    "suspicious-contract-creation": Stage.PREPARATION,
    "safe-config-change": Stage.PREPARATION,
    "role-granted": Stage.PREPARATION,
    "ownership-transferred": Stage.PREPARATION,
    "upgraded": Stage.PREPARATION,
    "admin-changed": Stage.PREPARATION,
    "large-outflow": Stage.EXPLOITATION,
    "flash-loan": Stage.EXPLOITATION,
    "flash-loan-profit": Stage.EXPLOITATION,
    "reentrancy": Stage.EXPLOITATION,
    "unexpected-mint": Stage.EXPLOITATION,
    "balance-drop": Stage.EXPLOITATION,
    "tvl-drop": Stage.EXPLOITATION,
    "mixer-deposit": Stage.LAUNDERING,
    "bridge-out": Stage.LAUNDERING,
}
STAGE_OF_CATEGORY: Mapping[str, Stage] = {
    "funding": Stage.FUNDING,
    "preparation": Stage.PREPARATION,
    "upgrade": Stage.PREPARATION,
    "flow": Stage.EXPLOITATION,
    "exploit": Stage.EXPLOITATION,
    "laundering": Stage.LAUNDERING,
}
# Index: number of distinct stages seen. Alerts without a stage (a pause, a revoked role)
# still correlate, but are not evidence of an attack by themselves.
CONFIDENCE_BY_STAGE_COUNT: tuple[float, ...] = (0.1, 0.3, 0.6, 0.85, 0.95)


def stage_of(kind: str, category: str | None = None) -> Stage | None:
    """The attack stage a finding of rule type ``kind`` (of ``category``) is evidence of."""
    stage = STAGE_OF_KIND.get(kind)
    if stage is None and category is not None:
        stage = STAGE_OF_CATEGORY.get(category)
    return stage


def confidence_of(stages: Collection[Stage | str]) -> float:
    """Confidence that alerts showing ``stages`` are one attack: more distinct stages, more."""
    count = min(len(set(stages)), len(CONFIDENCE_BY_STAGE_COUNT) - 1)
    return CONFIDENCE_BY_STAGE_COUNT[count]


def correlate(
    session: Session, *, alerts: Sequence[AlertRecord], window: timedelta, now: datetime
) -> list[IncidentCandidate]:
    """Put ``alerts`` (new ones, of one block) into incident candidates.

    Alerts that share an address or transaction with each other form a cluster; a cluster
    joins the candidates whose live alerts within ``window`` of block time share one with it
    (merging them when several do), or opens a new one. Work is per cluster, not per alert,
    so a burst of a thousand findings costs a few queries.

    Returns:
        The candidates the alerts went to, each with stages and confidence recomputed.
    """
    touched: list[IncidentCandidate] = []
    for cluster in _clusters(alerts):
        first = cluster[0]
        related = related_incident_candidates(
            session,
            chain=first.chain,
            tx_hashes={a.tx_hash for a in cluster if a.tx_hash},
            addresses={address for a in cluster for address in a.addresses},
            since=min(a.block_time for a in cluster) - window,
        )
        if related:
            candidate = related[0]
            merge_incident_candidates(session, into=candidate, others=related[1:])
        else:
            key = first.tx_hash or (first.addresses[0] if first.addresses else first.block_hash)
            candidate = open_incident_candidate(session, chain=first.chain, key=key, now=now)
        for alert in cluster:
            alert.incident_candidate_id = candidate.id
        session.flush()
        recompute(session, candidate=candidate)
        touched.append(candidate)
    return touched


def _clusters(alerts: Sequence[AlertRecord]) -> list[list[AlertRecord]]:
    """Alerts linked by a shared transaction or address, transitively (union-find)."""
    parent = list(range(len(alerts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, alert in enumerate(alerts):
        for link in (alert.tx_hash, *alert.addresses):
            if link is None:
                continue
            if link in owner:
                parent[root(index)] = root(owner[link])
            else:
                owner[link] = index
    clusters: dict[int, list[AlertRecord]] = {}
    for index, alert in enumerate(alerts):
        clusters.setdefault(root(index), []).append(alert)
    return list(clusters.values())


def recompute(session: Session, *, candidate: IncidentCandidate) -> None:
    """Stages and confidence from the candidate's live (not retracted) alerts."""
    live = live_alert_stages(session, candidate_id=candidate.id)
    order = list(Stage)
    stages = sorted({Stage(stage) for stage in live if stage}, key=order.index)
    candidate.stages = [str(s) for s in stages]
    candidate.confidence = confidence_of(stages) if live else 0.0
    session.flush()
