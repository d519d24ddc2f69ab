"""Leases in a JetStream key-value bucket: one holder per key, taken over when it lapses.

The bucket's entries expire ``ttl`` seconds after their last write, so a holder that dies
(or loses its connection) stops renewing and the key disappears; a standby's ``create`` then
succeeds. Renewal is a compare-and-swap on the revision the holder last wrote: if anyone
else wrote the key since, the renewal fails and the holder knows it lost.

The revision is also the fencing token. A holder stops acting on its own before the bucket
could expire its entry (``ttl`` less a margin since its last successful renewal), so a
paused or partitioned process that has not yet noticed cannot overlap a new holder: check
:meth:`Lease.fence` immediately before every side effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
import structlog

from breakglass.cluster.connect import ClusterError

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

__all__ = ["LEASE_BUCKET", "Lease", "LeaseLost", "LeaseValue", "lease_bucket"]

LEASE_BUCKET = "breakglass_leases"
"""The bucket of every lease of scale-out mode (chains, signers, roles)."""

_log = structlog.get_logger("breakglass.cluster")


@dataclass(frozen=True)
class LeaseValue:
    """What a lease's entry says: who holds it and since when (Unix seconds), for
    ``breakglass cluster status``."""

    owner: str
    since: float

    def encode(self) -> bytes:
        return orjson.dumps({"owner": self.owner, "since": self.since})

    @classmethod
    def decode(cls, raw: bytes | None) -> LeaseValue:
        try:
            body = orjson.loads(raw or b"")
            return cls(str(body["owner"]), float(body["since"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls((raw or b"").decode(errors="replace"), 0.0)


class LeaseLost(ClusterError):
    """This process does not hold the lease (any more): it must not act."""


async def lease_bucket(js: object, name: str, *, ttl: float) -> KeyValue:
    """The bucket ``name`` whose entries expire ``ttl`` seconds after their last write,
    created if absent."""
    from nats.js.api import KeyValueConfig  # noqa: PLC0415
    from nats.js.errors import BucketNotFoundError  # noqa: PLC0415

    try:
        return await js.key_value(name)  # type: ignore[attr-defined, no-any-return]
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=name, ttl=ttl, history=1)
        return await js.create_key_value(config=config)  # type: ignore[attr-defined, no-any-return]


class Lease:
    """One key of a lease bucket, held by ``owner`` while it keeps renewing.

    Args:
        kv: a bucket from :func:`lease_bucket` (its ``ttl`` is the lease's).
        key: what is leased, e.g. ``chain.mainnet`` or ``signer.guardian``.
        owner: who this process is (host and pid), written in the value with the time taken.
        ttl: the bucket's ttl in seconds.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        kv: KeyValue,
        key: str,
        owner: str,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.clock = clock
        self.revision: int | None = None
        self._renewed_at = 0.0
        self._value = b""

    @property
    def margin(self) -> float:
        """How long before the bucket could expire the entry this holder stops acting."""
        return max(0.2, self.ttl / 4)

    def held(self) -> bool:
        """Whether this process may act now."""
        return (
            self.revision is not None and self.clock() - self._renewed_at < self.ttl - self.margin
        )

    def fence(self) -> int:
        """The fencing token (the lease's revision) if this process may act now.

        Raises:
            LeaseLost: it may not.
        """
        if not self.held():
            raise LeaseLost(f"lease {self.key} is not held by {self.owner}")
        assert self.revision is not None
        return self.revision

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; ``True`` if this process holds it now."""
        from nats.js.errors import KeyWrongLastSequenceError  # noqa: PLC0415

        started = self.clock()
        self._value = LeaseValue(self.owner, time.time()).encode()
        try:
            self.revision = await self.kv.create(self.key, self._value)
        except KeyWrongLastSequenceError:
            self.revision = None
            return False
        self._renewed_at = started
        _log.info("cluster.lease_taken", key=self.key, owner=self.owner, revision=self.revision)
        return True

    async def renew(self) -> bool:
        """Extend the lease; ``False`` (and no longer held) if someone else wrote it since."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError  # noqa: PLC0415

        if self.revision is None:
            return False
        started = self.clock()
        try:
            self.revision = await self.kv.update(self.key, self._value, last=self.revision)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            _log.error("cluster.lease_lost", key=self.key, owner=self.owner)
            self.revision = None
            return False
        self._renewed_at = started
        return True

    async def release(self) -> None:
        """Give the lease up at once (a clean stop), so a standby need not wait for the ttl."""
        from nats.js.errors import KeyValueError  # noqa: PLC0415

        if self.revision is None:
            return
        with contextlib.suppress(KeyValueError):  # someone else holds it: nothing to release
            await self.kv.delete(self.key, last=self.revision)
        self.revision = None

    async def keep(
        self,
        stop: asyncio.Event,
        *,
        on_gained: Callable[[int], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        """Hold the lease while ``stop`` is unset: renew it every third of the ttl, or try to
        take it every sixth; tell ``on_gained``/``on_lost`` when that changes. Releases it
        on stop."""
        had = False
        try:
            while not stop.is_set():
                try:
                    # A partitioned client's request waits for its own timeout (seconds):
                    # no longer than a third of the ttl, so losing the lease is seen in time.
                    attempt = self.renew() if self.revision is not None else self.acquire()
                    now_held = await asyncio.wait_for(attempt, timeout=self.ttl / 3)
                except Exception as exc:  # a dropped connection: not held until proven again
                    _log.warning("cluster.lease_error", key=self.key, error=repr(exc)[:200])
                    now_held = self.held()
                if now_held and not had and on_gained is not None and self.revision is not None:
                    on_gained(self.revision)
                if had and not now_held and on_lost is not None:
                    on_lost()
                had = now_held
                # A holder renews every third of the ttl; a standby asks twice as often, so
                # a lapsed lease is taken within a sixth of the ttl.
                pause = self.ttl / 3 if now_held else self.ttl / 6
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            if had:
                await self.release()
