"""One monitor per chain and database.

Two monitors following the same chain into the same database would each move its
checkpoint and store each alert, and each would react to the same drain. The second one is
refused with a message instead: on PostgreSQL by a session advisory lock held on a
connection of its own, on SQLite by an exclusive ``flock`` on a file beside the database.
Both are released by the server or the kernel when the process ends, however it ends, so a
crashed monitor never leaves a stale lock behind (no table, no migration).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from breakglass.errors import StoreError

__all__ = ["AnotherMonitorError", "MonitorLease"]


class AnotherMonitorError(StoreError):
    """Another monitor follows this chain into this database."""

    def __init__(self, chain: str) -> None:
        super().__init__(
            f"another monitor is running on this database for chain {chain!r}; stop it first, "
            "or point BREAKGLASS_DATABASE_URL at another database"
        )
        self.chain = chain


def _advisory_key(chain: str) -> int:
    digest = hashlib.sha256(f"breakglass-monitor:{chain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MonitorLease:
    """The right to follow ``chain`` on ``engine``'s database, until :meth:`release`.

    The lease is per process: another process is refused, while a second claim in the same
    process (tests, a restarted monitor task) shares the held lock, released with the last.
    """

    def __init__(self, chain: str, connection: Connection | None, fd: int | None) -> None:
        self.chain = chain
        self._connection = connection
        self._fd = fd
        self._key: tuple[str, str] | None = None
        self._engine: Engine | None = None

    @classmethod
    def acquire(cls, engine: Engine, chain: str) -> MonitorLease:
        """Take the lease without waiting.

        Raises:
            AnotherMonitorError: another process holds it.
            StoreError: the database cannot be reached to take it.
        """
        key = (engine.url.render_as_string(hide_password=True), chain)
        with _registry_lock:
            if key in _registry:
                lease, count = _registry[key]
                _registry[key] = (lease, count + 1)
                return _Share(lease)
            lease = cls._take(engine, chain)
            lease._key = key
            _registry[key] = (lease, 1)
            return _Share(lease)

    @classmethod
    def _take(cls, engine: Engine, chain: str) -> MonitorLease:
        backend = engine.url.get_backend_name()
        if backend == "postgresql":
            return cls._advisory(engine, chain)
        database = engine.url.database
        if backend == "sqlite" and database and database != ":memory:":
            return cls._flock(Path(database), chain)
        return cls(chain, None, None)

    @classmethod
    def _advisory(cls, engine: Engine, chain: str) -> MonitorLease:
        try:
            connection = engine.connect()
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": _advisory_key(chain)}
            ).scalar()
            connection.commit()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot reach the database to claim chain {chain!r}: {type(exc).__name__}"
            ) from None
        if not taken:
            connection.close()
            raise AnotherMonitorError(chain)
        lease = cls(chain, connection, None)
        lease._engine = engine
        return lease

    @classmethod
    def _flock(cls, database: Path, chain: str) -> MonitorLease:
        import fcntl  # noqa: PLC0415 - POSIX only; PostgreSQL needs no file lock

        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in chain)
        path = database.with_name(f"{database.name}.monitor-{safe}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AnotherMonitorError(chain) from None
        return cls(chain, None, fd)

    def renew(self) -> None:
        """Take the advisory lock again if its connection was lost (a PostgreSQL restart or
        a terminated backend ends the session, and the lock with it).

        Raises:
            AnotherMonitorError: another monitor took the chain meanwhile.
            StoreError: the database cannot be reached to take it again.
        """
        if self._connection is None or self._engine is None:
            return
        try:
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
        except SQLAlchemyError:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None
            self._connection = self._advisory(self._engine, self.chain)._connection

    def release(self) -> None:
        """Give this claim up; the lock goes with the process's last claim. Idempotent."""
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(SQLAlchemyError):
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _advisory_key(self.chain)}
                )
            with contextlib.suppress(SQLAlchemyError):
                connection.close()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock


_registry: dict[tuple[str, str], tuple[MonitorLease, int]] = {}
_registry_lock = threading.Lock()


class _Share(MonitorLease):
    """One claim on a lease the process holds."""

    def __init__(self, lease: MonitorLease) -> None:
        super().__init__(lease.chain, None, None)
        self._lease: MonitorLease | None = lease

    def renew(self) -> None:
        if self._lease is not None:
            self._lease.renew()

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None or lease._key is None:
            return
        with _registry_lock:
            held, count = _registry.get(lease._key, (lease, 1))
            if count > 1:
                _registry[lease._key] = (held, count - 1)
                return
            _registry.pop(lease._key, None)
        lease._drop()
