"""A heartbeat: the monitor pings an outside dead-man's switch while it watches the chain.

Health alerts need a living monitor to raise them. When the process dies, the host goes
down or the network to the pager fails, only something outside can tell: a heartbeat
service (healthchecks.io, Better Stack, Uptime Kuma, Cronitor, ...) that alerts when pings
stop. Pings go out only while the chain is being followed (``alive``), so a monitor that is
up but blind looks dead from outside too.

A plain ``http(s)://`` URL is fetched with GET, what those services expect; any other URL is
an Apprise target and gets a short message. The URL is a secret (the check's id is its key):
it is masked in every log line and a failed ping logs only its scheme and host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx
import structlog

from breakglass.chain.rpc import redact_url
from breakglass.errors import BreakglassError
from breakglass.logs import register_secret
from breakglass.plan.models.base import Secret

__all__ = ["Heartbeat"]

_log = structlog.get_logger("breakglass.detect")

TIMEOUT_S = 10.0


class Heartbeat:
    """Pings ``url`` every ``every`` seconds while ``alive()`` holds.

    Raises:
        ConfigError: the URL refers to an unset environment variable (when built, so that
            ``monitor`` refuses to start rather than run without its switch).
    """

    def __init__(
        self,
        *,
        url: Secret,
        every: float,
        alive: Callable[[], bool],
        chain: str = "",
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._template = url
        self._environ = None if environ is None else dict(environ)
        self._url = url.resolve(self._environ)
        for part in (self._url, urlsplit(self._url).path, urlsplit(self._url).query):
            register_secret(part)
        self.every = every
        self.alive = alive
        self.chain = chain
        self._transport = transport
        self.sent = 0
        self.failed = 0

    @property
    def name(self) -> str:
        return redact_url(self._url)

    async def ping(self) -> bool:
        """One ping; a failure is logged and counted, never raised."""
        try:
            if urlsplit(self._url).scheme.lower() in ("http", "https"):
                await self._get()
            else:
                await self._apprise()
        except (httpx.HTTPError, BreakglassError) as exc:
            self.failed += 1
            _log.error(
                "detect.heartbeat_failed",
                chain=self.chain,
                target=self.name,
                error=type(exc).__name__ if isinstance(exc, httpx.HTTPError) else str(exc)[:200],
            )
            return False
        self.sent += 1
        _log.debug("detect.heartbeat_sent", chain=self.chain, target=self.name)
        return True

    async def _get(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, transport=self._transport) as client:
            response = await client.get(self._url, headers={"User-Agent": "breakglass"})
        if not 200 <= response.status_code < 300:
            raise BreakglassError(f"heartbeat answered HTTP {response.status_code}")

    async def _apprise(self) -> None:
        # Apprise takes a second to import; a plain https heartbeat should not pay for it.
        from breakglass.notify.errors import DeliveryError  # noqa: PLC0415
        from breakglass.notify.transport import Target, send  # noqa: PLC0415

        title = f"breakglass monitor alive: {self.chain}"
        try:
            await send(
                Target("heartbeat", self._template),
                title,
                title,
                {"event": "heartbeat", "chain": self.chain},
                environ=self._environ,
            )
        except DeliveryError as exc:  # its text is scrubbed of the URL already
            raise BreakglassError(str(exc)) from None

    async def run(self, stop: asyncio.Event) -> None:
        """Ping every ``every`` seconds until ``stop`` is set, skipping while not alive."""
        while not stop.is_set():
            if self.alive():
                await self.ping()
            else:
                _log.warning("detect.heartbeat_withheld", chain=self.chain, reason="not watching")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
