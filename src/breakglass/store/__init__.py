"""Persistence: SQLAlchemy 2 models and Alembic migrations; SQLite by default, Postgres by URL."""

from __future__ import annotations

from breakglass.store.alerts import (
    AlertOutcome,
    AlertStatus,
    NewAlert,
    alerts_of_candidate,
    list_alerts,
    list_incident_candidates,
    live_alert_stages,
    merge_incident_candidates,
    open_incident_candidate,
    record_alert,
    related_incident_candidates,
    retract_alerts,
)
from breakglass.store.db import (
    SchemaBehind,
    current_revision,
    downgrade,
    make_engine,
    require_current,
    session_factory,
    upgrade,
)
from breakglass.store.models import (
    AlertRecord,
    Base,
    CanonicalBlock,
    Checkpoint,
    IncidentCandidate,
    PlanRevision,
)
from breakglass.store.service import (
    add_canonical_block,
    canonical_blocks,
    get_checkpoint,
    latest_plan_revision,
    record_plan_revision,
    remove_canonical_block,
    save_checkpoint,
)

__all__ = [
    "AlertOutcome",
    "AlertRecord",
    "AlertStatus",
    "Base",
    "CanonicalBlock",
    "Checkpoint",
    "IncidentCandidate",
    "NewAlert",
    "PlanRevision",
    "SchemaBehind",
    "add_canonical_block",
    "alerts_of_candidate",
    "canonical_blocks",
    "current_revision",
    "downgrade",
    "get_checkpoint",
    "latest_plan_revision",
    "list_alerts",
    "list_incident_candidates",
    "live_alert_stages",
    "make_engine",
    "merge_incident_candidates",
    "open_incident_candidate",
    "record_alert",
    "record_plan_revision",
    "related_incident_candidates",
    "remove_canonical_block",
    "require_current",
    "retract_alerts",
    "save_checkpoint",
    "session_factory",
    "upgrade",
]
