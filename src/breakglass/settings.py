"""Process-wide settings, read from ``BREAKGLASS_*`` environment variables.

A plain dataclass rather than pydantic-settings: every command reads these at start, and
pydantic-settings alone costs about as much to import as the CLI framework (``breakglass
version`` must answer at once). Every field is a string or a path, so there is nothing for a
validation library to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "BREAKGLASS_"


def _env(name: str) -> str | None:
    """``BREAKGLASS_<NAME>``, case-insensitive as pydantic-settings read it; empty means unset."""
    wanted = ENV_PREFIX + name.upper()
    value = os.environ.get(wanted)
    if value is None:
        value = next((v for k, v in os.environ.items() if k.upper() == wanted), None)
    return value or None


def _env_path(name: str) -> Path | None:
    value = _env(name)
    return Path(value) if value is not None else None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Runtime settings.

    Every field can be set with an environment variable of the same name prefixed with
    ``BREAKGLASS_``, e.g. ``BREAKGLASS_DATABASE_URL=postgresql://localhost/breakglass``;
    arguments given to the constructor win over the environment.

    Attributes:
        home: directory for the embedded database and other local state.
        database_url: SQLAlchemy URL; defaults to SQLite at ``<home>/breakglass.db``.
        log_level: minimum level of log records.
        log_format: ``console`` or ``json``.
        anvil_path: anvil binary; defaults to the one installed by npm under node_modules.
        nats_url: NATS JetStream of scale-out mode (``nats://host:4222``); unset: embedded.
    """

    home: Path = field(default_factory=lambda: _env_path("home") or Path(".breakglass"))
    database_url: str | None = field(default_factory=lambda: _env("database_url"))
    log_level: str = field(default_factory=lambda: _env("log_level") or "INFO")
    log_format: str = field(default_factory=lambda: _env("log_format") or "console")
    anvil_path: Path | None = field(default_factory=lambda: _env_path("anvil_path"))
    nats_url: str | None = field(default_factory=lambda: _env("nats_url"))

    def resolved_database_url(self) -> str:
        """The database URL to use, falling back to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'breakglass.db').as_posix()}"
