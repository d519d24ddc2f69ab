"""Dashboard sign-in: a server-side session (:mod:`breakglass.web.sessions`) whose random id
sits in an HttpOnly, SameSite=Strict cookie, CSRF tokens for every form, and the permission
dependencies of the web routes.

The cookie never holds the API token: signing out, the session's expiry, revoking the token
or removing its person from the plan each sign the browser out at its next request. A form's
CSRF token is an HMAC of the session id: a page that does not know the id cannot forge it.
The sign-in form, before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, quote

from fastapi import Request
from starlette.responses import Response

from breakglass.plan.models import Access
from breakglass.web.sessions import SESSION_TTL, session_caller
from breakglass.webcore.security import Permission, state_of
from breakglass.webcore.tokens import Caller

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "WEB_ADMIN",
    "WEB_PUBLIC",
    "WEB_RESPONDER",
    "WEB_VIEWER",
    "WEB_VIEWER_FORM",
    "WebForbidden",
    "WebLoginNeeded",
    "WebPublic",
    "WebRequires",
    "csrf_for",
    "form_of",
    "new_login_csrf",
    "set_cookie",
]

SESSION_COOKIE = "breakglass_session"
LOGIN_CSRF_COOKIE = "breakglass_login_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = int(SESSION_TTL.total_seconds())
MAX_FORM_BYTES = 64 * 1024


class WebLoginNeeded(Exception):
    """No valid session: the browser is sent to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class WebForbidden(Exception):
    """Signed in, but not allowed to do this (access level or CSRF token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def csrf_for(session_id: str) -> str:
    """The CSRF token of the forms shown in the session ``session_id``."""
    return hmac.new(session_id.encode(), b"breakglass-dashboard-csrf", hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    """A random value for the sign-in form's double-submit cookie."""
    return secrets.token_urlsafe(24)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set an HttpOnly, SameSite=Strict cookie (Secure when served over HTTPS)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form POST (the first value of each); at most 64 KiB.

    Raises:
        WebForbidden: the body is too large or is not a URL-encoded form.
    """
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        raise WebForbidden("send the dashboard's form (URL-encoded, at most 64 KiB)")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebForbidden("the form could not be read") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    request.state.form = fields
    return fields


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.method != "GET":
        return "/incidents"
    query = request.url.query
    return quote(path + ("?" + query if query else ""), safe="/?=&-_.")


class WebPublic(Permission):
    """A dashboard page anyone may load (sign-in, static files)."""

    def __call__(self) -> None:
        return None


class WebRequires(Permission):
    """A signed-in dashboard user with at least ``level`` access; with ``form`` set, the
    request is a form POST and must carry the session's CSRF token.

    Without a session the browser is redirected to the sign-in page; below the level, or
    with a wrong CSRF token, the answer is a 403 page.
    """

    def __init__(self, level: Access, *, form: bool = False) -> None:
        self.level = level
        self.form = form

    async def __call__(self, request: Request) -> Caller:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        caller = None
        if session_id:
            state = state_of(request)
            with state.sessions() as session:
                caller = session_caller(session, plan=state.loaded.plan, session_id=session_id)
        if caller is None:
            raise WebLoginNeeded(_next_path(request))
        request.state.caller = caller
        request.state.csrf = csrf_for(session_id)
        if self.form:
            sent = (await form_of(request)).get(CSRF_FIELD, "")
            if not hmac.compare_digest(sent.encode(), csrf_for(session_id).encode()):
                raise WebForbidden("the form's CSRF token is missing or wrong; reload the page")
        assert self.level is not None
        if not caller.may(self.level):
            raise WebForbidden(
                f"{caller.person} has {caller.access} access; this needs {self.level}"
            )
        return caller


WEB_PUBLIC = WebPublic()
WEB_VIEWER = WebRequires(Access.VIEWER)
WEB_RESPONDER = WebRequires(Access.RESPONDER, form=True)
WEB_ADMIN = WebRequires(Access.ADMIN)
WEB_VIEWER_FORM = WebRequires(Access.VIEWER, form=True)
