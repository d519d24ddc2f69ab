"""Tables' shared parts: the declarative base, naming convention and UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

__all__ = ["NAMING_CONVENTION", "Base", "UTCDateTime"]


# Explicit constraint names keep migrations identical on SQLite and Postgres, and let batch
# migrations on SQLite find constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored and returned in UTC on every backend.

    SQLite has no time zones: it would drop the offset of an aware datetime and return naive
    ones. Normalising to UTC on the way in and tagging UTC on the way out hides that.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous; refusing it beats storing the wrong instant.
            raise TypeError(f"naive datetime {value.isoformat()} given; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model; owns the metadata the migrations are checked against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
