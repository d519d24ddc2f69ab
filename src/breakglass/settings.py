"""Process-wide settings, read from ``BREAKGLASS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Runtime settings.

    Every field can be set with an environment variable of the same name prefixed with
    ``BREAKGLASS_``, e.g. ``BREAKGLASS_DATABASE_URL=postgresql://localhost/breakglass``.
    """

    model_config = SettingsConfigDict(env_prefix="BREAKGLASS_", extra="ignore")

    home: Path = Field(
        default=Path(".breakglass"),
        description="Directory for the embedded database and other local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite at <home>/breakglass.db.",
    )
    log_level: str = Field(default="INFO", description="Minimum level of log records.")
    log_format: str = Field(default="console", description="'console' or 'json'.")
    anvil_path: Path | None = Field(
        default=None,
        description="anvil binary; defaults to the one installed by npm under node_modules.",
    )

    def resolved_database_url(self) -> str:
        """The database URL to use, falling back to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'breakglass.db').as_posix()}"
