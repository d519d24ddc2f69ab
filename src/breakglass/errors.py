"""The exception tree of breakglass.

Every error breakglass raises on purpose derives from one root, with one base per domain::

    BreakglassError
    ├── ConfigError          settings and environment (missing variables, bad URLs)
    ├── PlanError            the incident-response plan
    │   └── PlanLoadError    the plan file could not be read or validated (carries every issue)
    ├── ChainError           talking to a chain (breakglass.chain.errors has the endpoint
    │   │                    failures; breakglass.ingest the stream's own)
    │   └── DevchainError    the local anvil chain could not be started or stopped
    ├── StoreError           the database and its migrations
    └── OutputError          a file or directory a command writes could not be created

The CLI turns any ``BreakglassError`` into a message and exit code 2; anything else is a bug.
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
