"""The errors of the incidents package; each is a :class:`BreakglassError`."""

from __future__ import annotations

from breakglass.errors import BreakglassError

__all__ = ["IncidentError", "IncidentNotFound", "TaskNotFound"]


class IncidentError(BreakglassError):
    """Bad input to an incident operation: an unknown status, severity, kind or role."""


class IncidentNotFound(IncidentError):
    """No incident has this id."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident #{incident_id}")


class TaskNotFound(IncidentError):
    """No task has this id."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        super().__init__(f"no task #{task_id}")
