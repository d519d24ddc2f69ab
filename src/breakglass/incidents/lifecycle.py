"""The incident lifecycle as data: statuses, the transition table, severities and the
vocabularies (task kinds, public update statuses) the services check input against.

The main line is ``detected → triaged → contained → eradicated → recovered → closed``.
``detected → contained`` skips triage: an automatic playbook can pause and verify every
contract before anyone has looked, and triage must not be faked to record that.
The side exits ``false-positive`` and ``duplicate`` (of another incident; ``duplicate-of``
is accepted as its spelling too) are open until the incident is contained or later: a pause
that an automatic playbook made on a false alarm still ends as a false positive.
``closed``, ``false-positive`` and ``duplicate`` are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from breakglass.incidents.errors import IncidentError

__all__ = [
    "FINAL",
    "SEVERITIES",
    "TRANSITIONS",
    "InvalidTransition",
    "Status",
    "UpdateStatus",
    "allowed_next",
    "check_transition",
    "choice",
    "parse_severity",
    "parse_status",
    "severity_rank",
]


class Status(StrEnum):
    """Where an incident stands."""

    DETECTED = "detected"
    TRIAGED = "triaged"
    CONTAINED = "contained"
    ERADICATED = "eradicated"
    RECOVERED = "recovered"
    CLOSED = "closed"
    FALSE_POSITIVE = "false-positive"
    DUPLICATE = "duplicate"


_SIDE_EXITS = (Status.FALSE_POSITIVE, Status.DUPLICATE)

TRANSITIONS: Mapping[Status, tuple[Status, ...]] = MappingProxyType(
    {
        Status.DETECTED: (Status.TRIAGED, Status.CONTAINED, *_SIDE_EXITS),
        Status.TRIAGED: (Status.CONTAINED, *_SIDE_EXITS),
        Status.CONTAINED: (Status.ERADICATED, *_SIDE_EXITS),
        Status.ERADICATED: (Status.RECOVERED,),
        Status.RECOVERED: (Status.CLOSED,),
        Status.CLOSED: (),
        Status.FALSE_POSITIVE: (),
        Status.DUPLICATE: (),
    }
)
"""Each status and the statuses it may move to, in the order they are offered."""

FINAL: frozenset[Status] = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)
"""Statuses nothing follows: the incident is over."""


class UpdateStatus(StrEnum):
    """Statuses of public updates, in the only order they may go (repeats allowed)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


SEVERITIES = ("P1", "P2", "P3", "P4", "P5")
"""Incident severities, worst first. When in doubt, choose the higher (smaller number)."""


class InvalidTransition(IncidentError):
    """The incident cannot move from its status to the one asked for."""

    def __init__(self, current: str, to: str, allowed: tuple[Status, ...]) -> None:
        self.current = current
        self.to = to
        self.allowed = allowed
        nexts = ", ".join(allowed) if allowed else "none: the incident is over"
        super().__init__(f"cannot move an incident from {current} to {to}; allowed: {nexts}")


def choice(value: str, options: tuple[str, ...] | type[StrEnum], what: str) -> str:
    """``value`` if it is one of ``options``, else an :class:`IncidentError` naming them."""
    names = tuple(str(o) for o in options)
    if value not in names:
        raise IncidentError(f"unknown {what} {value!r}; expected one of: {', '.join(names)}")
    return value


def parse_status(value: str) -> Status:
    """The status ``value`` names (``duplicate-of`` is ``duplicate``)."""
    if value == "duplicate-of":
        return Status.DUPLICATE
    if value == "resolved":  # the public updates' word; the incident's state is recovered
        raise IncidentError(
            "an incident has no status 'resolved': it is resolved when it reaches "
            f"recovered; expected one of: {', '.join(Status)}"
        )
    return Status(choice(value, Status, "incident status"))


def parse_severity(value: str) -> str:
    """``P1`` … ``P5`` (case-insensitive; a bare ``1`` … ``5`` works too)."""
    text = value.strip().upper()
    if text.isdigit():
        text = f"P{text}"
    if text not in SEVERITIES:
        raise IncidentError(
            f"unknown severity {value!r}; expected one of: {', '.join(SEVERITIES)} "
            "(P1 is the worst; when in doubt, choose higher)"
        )
    return text


def severity_rank(severity: str) -> int:
    """1 for P1 … 5 for P5: the ``severity`` variable of ``engage_if`` expressions."""
    return int(parse_severity(severity)[1:])


def allowed_next(status: str) -> tuple[Status, ...]:
    """The statuses an incident in ``status`` may move to."""
    return TRANSITIONS[parse_status(status)]


def check_transition(current: str, to: str) -> Status:
    """The target status, or :class:`InvalidTransition` naming the allowed ones."""
    target = parse_status(to)
    allowed = allowed_next(current)
    if target not in allowed:
        raise InvalidTransition(current, str(target), allowed)
    return target
