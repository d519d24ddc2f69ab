"""The HTTP status of a refused operation, the same on the API and the dashboard."""

from __future__ import annotations

from breakglass.errors import BreakglassError
from breakglass.incidents.comms import PublishForbidden
from breakglass.incidents.errors import IncidentNotFound, TaskNotFound
from breakglass.incidents.lifecycle import InvalidTransition
from breakglass.respond.service import ApprovalError

__all__ = ["error_status"]


def error_status(exc: BreakglassError) -> int:
    """The HTTP status of a refused operation: 404 for what does not exist, 403 for what the
    caller may not do, 409 for what conflicts with the current state, 400 for other bad
    input."""
    if isinstance(exc, IncidentNotFound | TaskNotFound):
        return 404
    if isinstance(exc, PublishForbidden):
        return 403
    if isinstance(exc, InvalidTransition | ApprovalError):
        return 409
    return 400
