"""Dashboard sessions, held server-side.

Signing in with an API token opens a session: the browser's cookie holds a random session
id (never the token), the database holds its SHA-256, the person, the token it was opened
with and when it expires. A stolen cookie is worth one session, which signing out, its
expiry, revoking the token or removing the person from the plan all end.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from breakglass.plan.models import Plan
from breakglass.store.models import WebSession
from breakglass.webcore.tokens import Caller, access_of, hash_token, live_token, live_token_id

__all__ = ["SESSION_TTL", "end_session", "session_caller", "start_session"]

SESSION_TTL = timedelta(hours=12)
"""How long a dashboard sign-in lasts: a working day of an incident, not a week."""


def start_session(
    session: Session,
    *,
    plan: Plan,
    token: str,
    now: datetime | None = None,
    ttl: timedelta = SESSION_TTL,
) -> tuple[str, Caller] | None:
    """Open a session for the holder of API token ``token``; returns the session id (for
    the cookie) and the caller, or None if the token is not valid."""
    row = live_token(session, plan, token)
    if row is None:
        return None
    opened = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            person=row.person,
            session_sha256=hash_token(session_id),
            token_id=row.id,
            created_at=opened,
            expires_at=opened + ttl,
            revoked_at=None,
        )
    )
    session.flush()
    return session_id, Caller(row.person, access_of(plan, row.person))


def session_caller(
    session: Session, *, plan: Plan, session_id: str, now: datetime | None = None
) -> Caller | None:
    """Who a session id signs in, or None if it is unknown, signed out, expired, its token
    was revoked or its person left the plan."""
    moment = now or datetime.now(UTC)
    found = session.execute(
        select(WebSession.person, WebSession.token_id).where(
            WebSession.session_sha256 == hash_token(session_id),
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > moment,
        )
    ).first()
    if found is None or found.person not in plan.people:
        return None
    if not live_token_id(session, found.token_id):
        return None
    return Caller(found.person, access_of(plan, found.person))


def end_session(session: Session, *, session_id: str, now: datetime | None = None) -> bool:
    """Sign a session out; returns whether it was live."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.session_sha256 == hash_token(session_id), WebSession.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
        .returning(WebSession.id)
    )
    return bool(result.all())
