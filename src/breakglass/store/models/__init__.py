"""Database tables, as SQLAlchemy 2 typed declarative models, one module per domain."""

from __future__ import annotations

from breakglass.store.models.alerts import AlertRecord, IncidentCandidate
from breakglass.store.models.assets import AssetUnit
from breakglass.store.models.base import NAMING_CONVENTION, Base, UTCDateTime
from breakglass.store.models.chain import CanonicalBlock, Checkpoint, PlanRevision
from breakglass.store.models.cluster import SideEffect
from breakglass.store.models.events import ConsumedEvent, OutboxRecord
from breakglass.store.models.incidents import (
    AffectedAddress,
    AttackerRecord,
    FundMovement,
    Incident,
    IncidentAlert,
    IncidentRun,
    PublicUpdate,
    ResponseRecord,
    RoleAssignment,
    Task,
    TimelineEvent,
)
from breakglass.store.models.learning import Distribution, Drill, Postmortem, UserLoss
from breakglass.store.models.notify import ApiToken, Delivery, Page, WebSession
from breakglass.store.models.respond import (
    PlaybookRun,
    SafeProposal,
    SafeSignature,
    StepEvent,
    StepRun,
)

__all__ = [
    "NAMING_CONVENTION",
    "AffectedAddress",
    "AlertRecord",
    "ApiToken",
    "AssetUnit",
    "AttackerRecord",
    "Base",
    "CanonicalBlock",
    "Checkpoint",
    "ConsumedEvent",
    "Delivery",
    "Distribution",
    "Drill",
    "FundMovement",
    "Incident",
    "IncidentAlert",
    "IncidentCandidate",
    "IncidentRun",
    "OutboxRecord",
    "Page",
    "PlanRevision",
    "PlaybookRun",
    "Postmortem",
    "PublicUpdate",
    "ResponseRecord",
    "RoleAssignment",
    "SafeProposal",
    "SafeSignature",
    "SideEffect",
    "StepEvent",
    "StepRun",
    "Task",
    "TimelineEvent",
    "UTCDateTime",
    "UserLoss",
    "WebSession",
]
