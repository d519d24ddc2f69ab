"""Moving one rendered message to one target: a signed JSON webhook, or any Apprise URL.

A ``json://`` or ``jsons://`` target with a signing key is posted here, with httpx, so the
signature covers the exact body bytes. Every other target goes through Apprise. Resolved
URLs hold tokens: they are registered with :func:`breakglass.logs.register_secret` (so no
structlog line shows them), Apprise's own log records are scrubbed the same way, and error
texts are scrubbed before they reach the delivery log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import apprise
import httpx

from breakglass.errors import ConfigError
from breakglass.logs import MASK, redact, register_secret
from breakglass.notify import external_paging
from breakglass.notify.errors import DeliveryError
from breakglass.notify.render import for_channel, render_html
from breakglass.notify.signing import (
    OZ_SIGNATURE_HEADER,
    OZ_TIMESTAMP_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_body,
    sign_oz_monitor,
)
from breakglass.plan.models.base import Secret

__all__ = [
    "DELIVERY_DEADLINE_S",
    "SIGNED_SCHEMES",
    "Target",
    "encode_body",
    "send",
    "uses_signed_webhook",
]

SIGNED_SCHEMES = frozenset({"json", "jsons"})
HTML_SCHEMES = frozenset({"mailto", "mailtos"})
TIMEOUT_S = 10.0
DELIVERY_DEADLINE_S = 30.0
"""The most one attempt may take, end to end, before it counts as failed and is retried."""
# Query arguments Apprise's json:// plugin reads itself; they are not the receiver's.
_APPRISE_ARGS = frozenset({"format", "overflow", "method", "verify", "cto", "rto", "emojis"})


@dataclass(frozen=True)
class Target:
    """Where a message goes: a name for the log, the URL template and an optional key."""

    name: str
    url: Secret
    signing_key: Secret | None = None
    signature: str = "breakglass"  # or "oz-monitor": signed as OpenZeppelin Monitor signs


def _scheme(template: str) -> str:
    return template.split("://", 1)[0].lower() if "://" in template else ""


def uses_signed_webhook(target: Target) -> bool:
    """True when the message is posted here, signed, rather than through Apprise."""
    return target.signing_key is not None and _scheme(target.url.template) in SIGNED_SCHEMES


class _ScrubApprise(logging.Filter):
    """Masks registered secrets (resolved URLs) in Apprise's standard-library log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(None, "", {"message": record.getMessage()})["message"]
        record.args = ()
        return True


_apprise_logger = logging.getLogger("apprise")
if not any(isinstance(f, _ScrubApprise) for f in _apprise_logger.filters):
    _apprise_logger.addFilter(_ScrubApprise())


def _secrets_of(url: str, environ: dict[str, str] | None, template: Secret) -> list[str]:
    """The values to hide: the URL, its path, query and password, and referenced env values."""
    values = [url]
    try:
        parts = urlsplit(url)
        values += [parts.path, parts.query, unquote(parts.path), parts.password or ""]
    except ValueError:
        pass
    values += [(environ or {}).get(name, "") for name in template.env_vars]
    return [v for v in values if len(v.strip("/")) >= 4]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes a webhook receives (and the signature covers)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


async def send(
    target: Target,
    title: str,
    body: str,
    payload: dict[str, Any],
    *,
    environ: dict[str, str] | None = None,
    now: datetime | None = None,
) -> None:
    """Deliver one message to ``target``.

    Raises:
        DeliveryError: the attempt failed; its text never holds the resolved URL.
    """
    try:
        url = target.url.resolve(environ)
        key = target.signing_key.resolve(environ) if target.signing_key else None
    except ConfigError as exc:
        raise DeliveryError(str(exc)) from None
    secrets = _secrets_of(url, environ, target.url)
    for value in [*secrets, key or ""]:
        register_secret(value)
    try:
        if _scheme(url) in external_paging.SCHEMES:
            await external_paging.send(url, title, body, payload)
        elif (
            key is not None and _scheme(url) in SIGNED_SCHEMES and target.signature == "oz-monitor"
        ):
            await _post_oz_signed(url, key, title, body, now or datetime.now(UTC))
        elif key is not None and _scheme(url) in SIGNED_SCHEMES:
            await _post_signed(url, key, payload, now or datetime.now(UTC))
        else:
            await _via_apprise(url, title, body)
    except DeliveryError as exc:
        raise DeliveryError(
            _scrub(str(exc), [*secrets, key or ""]), permanent=exc.permanent
        ) from None


def _http_url(url: str) -> tuple[str, dict[str, str], httpx.BasicAuth | None]:
    parts = urlsplit(url)
    headers: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.startswith("+"):
            headers[name[1:]] = value
        elif name[:1] not in {"-", ":"} and name.lower() not in _APPRISE_ARGS:
            params.append((name, value))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    scheme = "https" if parts.scheme.lower() == "jsons" else "http"
    auth = None
    if parts.username:
        auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    http = urlunsplit((scheme, netloc, parts.path or "/", urlencode(params), ""))
    return http, headers, auth


async def _post_signed(url: str, key: str, payload: dict[str, Any], now: datetime) -> None:
    http, headers, auth = _http_url(url)
    stamp = str(int(now.timestamp()))
    content = encode_body({**payload, "sent_at": int(stamp)})
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": "breakglass",
            SIGNATURE_HEADER: sign_body(content, key),
            TIMESTAMP_HEADER: stamp,
        }
    )
    await _post(http, content, headers, auth)


async def _post_oz_signed(url: str, key: str, title: str, body: str, now: datetime) -> None:
    # OpenZeppelin Monitor posts {"title", "body"} as compact JSON and signs body + ms stamp.
    http, headers, auth = _http_url(url)
    stamp = str(int(now.timestamp() * 1000))
    content = json.dumps({"title": title, "body": body}, separators=(",", ":")).encode()
    headers.update(
        {
            "Content-Type": "application/json",
            OZ_SIGNATURE_HEADER: sign_oz_monitor(content, stamp, key),
            OZ_TIMESTAMP_HEADER: stamp,
        }
    )
    await _post(http, content, headers, auth)


async def _post(
    http: str, content: bytes, headers: dict[str, str], auth: httpx.BasicAuth | None
) -> None:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, auth=auth) as client:
            response = await client.post(http, content=content, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"webhook answered HTTP {response.status_code}")


async def _via_apprise(url: str, title: str, body: str) -> None:
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise DeliveryError("not a valid Apprise URL", permanent=True)
    logs: list[str] = []
    scheme = _scheme(url)
    html = scheme in HTML_SCHEMES
    title, body = for_channel(scheme, title), for_channel(scheme, body)
    ok = await notifier.async_notify(
        body=render_html(title, body) if html else body,
        title=title,
        body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.MARKDOWN,
        log_callback=lambda entry, _service: logs.append(entry.message),
        log_level=logging.WARNING,
    )
    if not ok:
        raise DeliveryError("; ".join(logs) or "Apprise reported a failure")
