"""The exception tree of breakglass.

Every error breakglass raises on purpose derives from one root. The bases below are defined
here; each domain package defines its own errors beneath them, or (where named) a base of its
own directly under the root::

    BreakglassError
    ├── ConfigError          settings and environment (missing variables, bad URLs, keys)
    ├── PlanError            the incident-response plan
    │   └── PlanLoadError    the plan file could not be read or validated (carries every issue)
    ├── ChainError           talking to a chain (breakglass.chain.errors has the endpoint
    │   │                    failures; breakglass.ingest the stream's own)
    │   └── DevchainError    the local anvil chain could not be started or stopped
    ├── StoreError           the database and its migrations
    │   └── SchemaBehind     the schema is missing or older than the code (breakglass.store)
    ├── EventError           an event could not be stored, read or delivered (breakglass.events)
    ├── ClusterError         NATS, the JetStream bus and leases of scale-out (breakglass.cluster)
    │   └── LeaseLost        this replica does not hold the lease it needs to act
    ├── OutputError          a file or directory a command writes could not be created
    ├── UnsafeJson           JSON too deep, too large or with duplicate keys (breakglass.safejson)
    ├── CompileError         solcjs could not compile a contract (breakglass.contracts)
    ├── ExpressionError      a rule expression (breakglass.detect.expr)
    ├── IncidentError        the incident lifecycle, roles, tasks (breakglass.incidents)
    ├── NotifyError          channels, templates, pages (breakglass.notify)
    ├── StepFailed           a playbook step could not be carried out (breakglass.respond)
    ├── ApprovalError        an approval was refused (breakglass.respond.decisions)
    ├── SafeProposalError    a Safe transaction could not be proposed or signed
    ├── RecoveryError        compensation, fixes and restores (breakglass.recovery)
    ├── PostmortemError      post-mortem notes and edits (breakglass.report)
    ├── TokenError           API tokens and sessions (breakglass.api)
    └── NotChecked           a doctor check that could not run (breakglass.doctor)

The CLI turns any ``BreakglassError`` into a message and exit code 2; anything else is a bug.
``tests/test_errors_tree.py`` keeps this drawing true: every direct subclass of the root must
appear in it.
"""

from __future__ import annotations

__all__ = [
    "BreakglassError",
    "ChainError",
    "ConfigError",
    "DevchainError",
    "EventError",
    "OutputError",
    "PlanError",
    "StoreError",
]


class BreakglassError(Exception):
    """Root of every error breakglass raises on purpose."""


class ConfigError(BreakglassError):
    """Settings or the environment are wrong."""


class PlanError(BreakglassError):
    """The incident-response plan is unusable."""


class ChainError(BreakglassError):
    """A chain could not be reached or answered wrongly."""


class DevchainError(ChainError):
    """The local development chain could not be started or stopped."""


class StoreError(BreakglassError):
    """The database or its migrations failed."""


class OutputError(BreakglassError):
    """A file or directory a command was asked to write could not be created."""


class EventError(BreakglassError):
    """An event could not be stored, read or delivered."""
