"""The dashboard's Jinja2 environment (autoescaped) and page rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from breakglass.analysis.headline import span_text
from breakglass.plan.models import Access
from breakglass.web.words import Links, label, plain, sentence
from breakglass.webcore.security import state_of

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "page"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _when(moment: datetime | None) -> str:
    """A UTC time as ``2026-11-23 22:52:08Z``; empty for None."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _iso(moment: datetime | None) -> str:
    """A UTC time in ISO 8601, for the countdown script; empty for None."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def _span(delta: timedelta | None) -> str:
    """A duration in the one format (:func:`span_text`), ``-`` before one that is past
    (an overdue clock's time left)."""
    if delta is not None and delta < timedelta(0):
        return "-" + span_text(-delta)
    return span_text(delta)


def _short(value: object) -> Markup:
    """A long hex value (address, hash) as ``0x12345678…abcdef``, whole in its title."""
    text = str(value)
    if len(text) <= 20:
        return escape(text)
    return Markup('<span title="{0}">{1}…{2}</span>').format(text, text[:10], text[-6:])


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["iso"] = _iso
_env.filters["span"] = _span
_env.filters["short"] = _short
_env.filters["label"] = label
_env.filters["plain"] = plain
_env.filters["sentence"] = sentence


def page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the signed-in caller, their CSRF token and the protocol."""
    state = state_of(request)
    caller = getattr(request.state, "caller", None)
    values = {
        "protocol": state.loaded.plan.protocol,
        "caller": caller,
        "csrf": getattr(request.state, "csrf", ""),
        "can_act": caller is not None and caller.may(Access.RESPONDER),
        "path": request.url.path,
        "links": Links(state.loaded.plan),
        **context,
    }
    html = _env.get_template(template).render(values)
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    }
    return HTMLResponse(html, status_code=status_code, headers=headers)
