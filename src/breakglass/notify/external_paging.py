"""PagerDuty (Events API v2) and Opsgenie (Alert API) as paging targets.

A person's ``page`` URL may be ``pagerduty-events://ROUTING_KEY`` or
``opsgenie-alerts://API_KEY`` (``?region=eu`` for the EU services, ``?endpoint=URL`` for a
proxy or a test receiver). Every page of one breakglass incident carries the same dedup key
(``breakglass-incident-<id>``; ``breakglass-page-<id>`` for a page without an incident), so
escalating through a role's members and paging again for the same incident keep to one
PagerDuty incident or Opsgenie alert. Their acknowledgement webhooks come back through
:func:`acknowledge_from_webhook` and stop breakglass's own escalation; :func:`resolve_pages`
resolves them when the incident closes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import structlog
from sqlalchemy import select

from breakglass.errors import ConfigError
from breakglass.notify.errors import DeliveryError, NotifyError
from breakglass.plan.models.base import Secret
from breakglass.store.models import Page

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.notify import Notifier
    from breakglass.plan.models import Plan

__all__ = [
    "RESOLVED",
    "RESOLVE_EVENT",
    "SCHEMES",
    "acknowledge_from_webhook",
    "dedup_key",
    "handles",
    "opsgenie_targets",
    "pagerduty_signed",
    "pagerduty_webhook_secrets",
    "resolve_pages",
    "send",
    "webhook_refusal",
]

_log = structlog.get_logger("breakglass.notify")
SCHEMES = frozenset({"pagerduty-events", "opsgenie-alerts"})
RESOLVE_EVENT = "page_resolved"
RESOLVED = "resolved"  # a page of a closed incident: no escalation, its services resolved
_PD = {"": "https://events.pagerduty.com", "eu": "https://events.eu.pagerduty.com"}
_OG = {"": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
_SEVERITY = {"P1": ("critical", "P1"), "P2": ("error", "P2"), "P3": ("warning", "P3")}
_KEY = re.compile(r"breakglass-(incident|page)-(\d+)")
_ACK_WORDS = ("acknowledge", "resolve", "close")
_WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 - the query parameter's name
_WHOLE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
TIMEOUT_S = 10.0


def handles(url: str) -> bool:
    """Whether ``url`` (resolved) is a PagerDuty or Opsgenie paging target."""
    return url.split("://", 1)[0].lower() in SCHEMES


def dedup_key(payload: Mapping[str, Any]) -> str:
    """One key per breakglass incident (or per page, for a page without one)."""
    if payload.get("incident_id") is not None:
        return f"breakglass-incident-{payload['incident_id']}"
    page = (payload.get("fields") or {}).get("page_id")
    if page is None:  # a channel message outside any incident: one per distinct title
        digest = hashlib.sha256(str(payload.get("title")).encode()).hexdigest()[:16]
        return f"breakglass-message-{digest}"
    return f"breakglass-page-{page}"


async def send(url: str, title: str, body: str, payload: Mapping[str, Any]) -> None:
    """Trigger (or, for :data:`RESOLVE_EVENT`, resolve) the incident of ``payload``.

    Raises:
        DeliveryError: the service refused (permanent for a 4xx other than 429) or failed.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    key = parts.netloc.rsplit("@", 1)[-1]
    if not key:
        raise DeliveryError("the paging URL has no key", permanent=True)
    dedup = dedup_key(payload)
    resolve = payload.get("event") == RESOLVE_EVENT
    severity = _SEVERITY.get(str(payload.get("severity")), ("critical", "P1"))
    details = {
        "body": body,
        "incident_id": payload.get("incident_id"),
        "fields": payload.get("fields"),
    }
    if parts.scheme.lower() == "pagerduty-events":
        base = query.get("endpoint") or _PD.get(query.get("region", ""), _PD[""])
        document: dict[str, Any] = {
            "routing_key": key,
            "event_action": "resolve" if resolve else "trigger",
            "dedup_key": dedup,
            "client": "breakglass",
        }
        if not resolve:
            document["payload"] = {
                "summary": title[:1024],
                "source": "breakglass",
                "severity": severity[0],
                "custom_details": details,
            }
        await _post(f"{base.rstrip('/')}/v2/enqueue", document, {})
        return
    base = query.get("endpoint") or _OG.get(query.get("region", ""), _OG[""])
    headers = {"Authorization": f"GenieKey {key}"}
    if resolve:
        target = f"{base.rstrip('/')}/v2/alerts/{quote(dedup)}/close?identifierType=alias"
        await _post(target, {"source": "breakglass"}, headers)
        return
    alert = {
        "message": title[:130],
        "alias": dedup,
        "description": body[:15000],
        "priority": severity[1],
        "source": "breakglass",
        "details": {k: json.dumps(v, default=str) for k, v in details.items()},
    }
    await _post(f"{base.rstrip('/')}/v2/alerts", alert, headers)


async def _post(url: str, document: dict[str, Any], headers: dict[str, str]) -> None:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.post(url, json=document, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__} reaching the paging service") from None
    status = response.status_code
    if not 200 <= status < 300:
        permanent = 400 <= status < 500 and status != 429
        raise DeliveryError(f"paging service answered HTTP {status}", permanent=permanent)


def _keys_and_verb(document: Any) -> tuple[set[tuple[str, int]], bool]:
    text = json.dumps(document, default=str)
    keys = {(kind, int(number)) for kind, number in _KEY.findall(text)}
    lowered = text.lower()
    return keys, any(word in lowered for word in _ACK_WORDS)


def acknowledge_from_webhook(notifier: Notifier, *, document: Any, person: str) -> list[int]:
    """Acknowledge, as ``person``, the open pages a PagerDuty or Opsgenie webhook names.

    The webhook's shape differs by service and version (PagerDuty v3 ``incident.acknowledged``,
    v2 ``incident.acknowledge``, Opsgenie ``Acknowledge``/``Close``); what they share is the
    dedup key breakglass gave the incident, so that is what is looked for. A resolve or close
    also stops escalation. Returns the page ids acknowledged now.

    Raises:
        NotifyError: the document names no breakglass incident or page, or is not an
            acknowledgement, resolution or closing.
    """
    keys, is_ack = _keys_and_verb(document)
    if not keys:
        raise NotifyError("the webhook names no breakglass incident or page")
    if not is_ack:
        raise NotifyError("the webhook is not an acknowledgement, resolution or closing")
    with notifier._sessions() as session:
        query = select(Page.id, Page.incident_id).where(
            Page.status.not_in(("acknowledged", RESOLVED))
        )
        pages = [
            page_id
            for page_id, incident in session.execute(query).all()
            if ("incident", incident) in keys or ("page", page_id) in keys
        ]
    done = []
    for page_id in pages:
        try:
            notifier.acknowledge(page_id, person)
        except NotifyError as exc:
            _log.warning("notify.external_ack_skipped", page=page_id, reason=str(exc))
            continue
        done.append(page_id)
    _log.info("notify.external_acknowledged", pages=done, person=person)
    return done


def resolve_pages(notifier: Notifier, *, incident_id: int, session: Session | None = None) -> int:
    """The incident is over: its pages stop escalating (status ``resolved``) and every
    PagerDuty or Opsgenie target paged for it gets a resolve, once; returns how many were
    queued (delivered by the notifier's loop, with retries). With ``session`` this joins the
    caller's transaction, so the resolve is stored with the status change or not at all."""
    from breakglass.notify.queue import enqueue  # noqa: PLC0415
    from breakglass.notify.render import Message  # noqa: PLC0415

    plan = notifier._plan
    queued = 0
    with nullcontext(session) if session is not None else notifier._sessions.begin() as tx:
        pages = tx.scalars(
            select(Page).where(Page.incident_id == incident_id, Page.status != RESOLVED)
        ).all()
        people = {person for page in pages for person in page.people}
        for page in pages:
            page.status = RESOLVED
        for name in sorted(people):
            person = plan.people.get(name)
            if person is None or person.page is None or not handles(person.page.template):
                continue
            message = Message(
                event=RESOLVE_EVENT,
                title=f"Incident #{incident_id} closed",
                body=f"Incident #{incident_id} is closed in breakglass.",
                timestamp=notifier._clock(),
                incident_id=incident_id,
            )
            enqueue(
                tx,
                f"page:{name}",
                message,
                {"person": name},
                now=message.timestamp,
                incident_id=incident_id,
            )
            queued += 1
    return queued


def _targets(plan: Plan, scheme: str) -> list[tuple[str, str]]:
    return [
        (name, person.page.template)
        for name, person in plan.people.items()
        if person.page is not None and person.page.template.split("://", 1)[0].lower() == scheme
    ]


def opsgenie_targets(plan: Plan) -> bool:
    """Whether anyone in the plan is paged through Opsgenie."""
    return bool(_targets(plan, "opsgenie-alerts"))


def pagerduty_webhook_secrets(plan: Plan, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """The signing secrets of the PagerDuty webhook subscriptions, one per distinct
    ``?webhook_secret=${VAR}`` on a ``pagerduty-events://`` page URL of the plan.

    Raises:
        NotifyError: a secret is written into the plan rather than referenced as ``${VAR}``
            (the plan would hold what lets anyone forge an acknowledgement).
        ConfigError: a referenced variable is not set.
    """
    env = None if environ is None else dict(environ)
    found: dict[str, str] = {}
    for name, template in _targets(plan, "pagerduty-events"):
        for key, value in parse_qsl(urlsplit(template).query):
            if key != _WEBHOOK_SECRET:
                continue
            if not _WHOLE_REFERENCE.fullmatch(value):
                raise NotifyError(
                    f"people.{name}.page: {_WEBHOOK_SECRET} must be a ${{VAR}} reference to "
                    "the environment, not the secret itself"
                )
            found.setdefault(value, Secret(value).resolve(env))
    return list(found.values())


def pagerduty_signed(body: bytes, header: str, secrets: Sequence[str]) -> bool:
    """Whether ``header`` (``X-PagerDuty-Signature``: comma-separated ``v1=<hex>``, several
    while PagerDuty rotates a secret) holds the HMAC-SHA256 of the raw ``body`` under one of
    ``secrets``, as PagerDuty's v3 webhooks sign it."""
    offered = [part.strip() for part in header.split(",") if part.strip().startswith("v1=")]
    for secret in secrets:
        expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, item) for item in offered):
            return True
    return False


def webhook_refusal(
    plan: Plan,
    *,
    body: bytes,
    signature: str | None,
    document: Any,
    environ: Mapping[str, str] | None = None,
) -> tuple[int, str] | None:
    """Why an acknowledgement webhook must be refused (HTTP status and reason), or None.

    Once the plan gives a PagerDuty webhook secret, a webhook must carry a valid
    ``X-PagerDuty-Signature``; only an Opsgenie callback (``action`` and ``alert``), when the
    plan pages through Opsgenie, goes without one, since Opsgenie signs nothing and is
    trusted on the token in its custom header alone. A signature sent is always checked.
    """
    try:
        secrets = pagerduty_webhook_secrets(plan, environ=environ)
    except (NotifyError, ConfigError) as exc:
        return 503, f"cannot check PagerDuty signatures: {exc}"
    if not secrets:
        return None
    if signature is None:
        opsgenie = isinstance(document, dict) and {"action", "alert"} <= document.keys()
        if opsgenie and opsgenie_targets(plan):
            return None
        return 401, "the plan gives a PagerDuty webhook secret: X-PagerDuty-Signature is missing"
    if not pagerduty_signed(body, signature, secrets):
        return 401, "X-PagerDuty-Signature does not match the body under any webhook secret"
    return None
