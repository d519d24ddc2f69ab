"""Incidents: the lifecycle as a transition table, severity, roles from the plan, the
timeline, tasks and action items, evidence, public updates and external parties.

Every function takes a session first and flushes without committing: the caller owns the
transaction. Bad input raises an :class:`IncidentError` (a ``BreakglassError``).
"""

from __future__ import annotations

from breakglass.incidents.alerts import attach_alert, incident_for_alert
from breakglass.incidents.comms import (
    Notify,
    Reminder,
    comms_role,
    due_reminders,
    engage_external_parties,
    next_update_due,
    public_updates,
    publish_update,
)
from breakglass.incidents.containment import PauseTarget, contain_if_verified, pause_targets
from breakglass.incidents.errors import IncidentError, IncidentNotFound, TaskNotFound
from breakglass.incidents.evidence import (
    AddressStatus,
    AttackerKind,
    DestinationKind,
    RecoveryStatus,
    add_attacker_record,
    add_fund_movement,
    affected_addresses,
    attacker_records,
    fund_movements,
    set_address_status,
    set_funds_at_risk,
    set_recovery_status,
)
from breakglass.incidents.lifecycle import (
    FINAL,
    SEVERITIES,
    TRANSITIONS,
    InvalidTransition,
    Status,
    UpdateStatus,
    allowed_next,
    parse_severity,
    severity_rank,
)
from breakglass.incidents.roles import (
    assign_plan_roles,
    assign_role,
    current_roles,
    role_history,
)
from breakglass.incidents.service import (
    TaskKind,
    TaskSource,
    TaskStatus,
    acknowledge,
    add_note,
    add_task,
    durations,
    get_incident,
    list_incidents,
    list_tasks,
    open_incident,
    set_task_status,
    transition,
)
from breakglass.incidents.timeline import (
    EventKind,
    link_runs,
    record_event,
    sync_timeline,
    timeline,
)

__all__ = [
    "FINAL",
    "SEVERITIES",
    "TRANSITIONS",
    "AddressStatus",
    "AttackerKind",
    "DestinationKind",
    "EventKind",
    "IncidentError",
    "IncidentNotFound",
    "InvalidTransition",
    "Notify",
    "PauseTarget",
    "RecoveryStatus",
    "Reminder",
    "Status",
    "TaskKind",
    "TaskNotFound",
    "TaskSource",
    "TaskStatus",
    "UpdateStatus",
    "acknowledge",
    "add_attacker_record",
    "add_fund_movement",
    "add_note",
    "add_task",
    "affected_addresses",
    "allowed_next",
    "assign_plan_roles",
    "assign_role",
    "attach_alert",
    "attacker_records",
    "comms_role",
    "contain_if_verified",
    "current_roles",
    "due_reminders",
    "durations",
    "engage_external_parties",
    "fund_movements",
    "get_incident",
    "incident_for_alert",
    "link_runs",
    "list_incidents",
    "list_tasks",
    "next_update_due",
    "open_incident",
    "parse_severity",
    "pause_targets",
    "public_updates",
    "publish_update",
    "record_event",
    "role_history",
    "set_address_status",
    "set_funds_at_risk",
    "set_recovery_status",
    "set_task_status",
    "severity_rank",
    "sync_timeline",
    "timeline",
    "transition",
]
