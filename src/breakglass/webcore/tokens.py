"""API tokens and who they let in.

A token is ``secrets.token_urlsafe(32)``, shown once; only its SHA-256 is stored. A person's
access level comes from the plan: their explicit ``access``, else admin for members of the
``incident_lead`` role, responder for members of a role that handles a mitigation, viewer
for everyone else. Removing a person from the plan locks their tokens out too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from breakglass.errors import BreakglassError
from breakglass.plan.models import Access, Plan
from breakglass.store.models import ApiToken

__all__ = [
    "ACCESS_RANK",
    "Caller",
    "TokenError",
    "access_of",
    "authenticate",
    "create_token",
    "hash_token",
    "live_token",
    "live_token_count",
    "live_token_id",
    "revoke_tokens",
]

ACCESS_RANK = {Access.VIEWER: 0, Access.RESPONDER: 1, Access.ADMIN: 2}
"""viewer < responder < admin."""


class TokenError(BreakglassError):
    """A token cannot be created or revoked for this person."""


@dataclass(frozen=True)
class Caller:
    """Who an API request acts as."""

    person: str
    access: Access

    def may(self, needed: Access) -> bool:
        """Whether this caller's access is at least ``needed``."""
        return ACCESS_RANK[self.access] >= ACCESS_RANK[needed]


def access_of(plan: Plan, person: str) -> Access:
    """The API access of ``person`` (who must be in the plan's people)."""
    explicit = plan.people[person].access
    if explicit is not None:
        return explicit
    lead = plan.roles.get("incident_lead")
    if lead is not None and person in lead.members:
        return Access.ADMIN
    if any(role.handles and person in role.members for role in plan.roles.values()):
        return Access.RESPONDER
    return Access.VIEWER


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, plan: Plan, person: str, *, now: datetime | None = None) -> str:
    """Create a token for ``person`` and return it; this is the only time it is seen."""
    if person not in plan.people:
        known = ", ".join(sorted(plan.people)) or "none"
        raise TokenError(f"the plan has no person {person!r} (people: {known})")
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            person=person,
            token_sha256=hash_token(token),
            created_at=now or datetime.now(UTC),
            revoked_at=None,
        )
    )
    session.flush()
    return token


def revoke_tokens(session: Session, person: str, *, now: datetime | None = None) -> int:
    """Revoke every live token of ``person``; returns how many were revoked."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.person == person, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
        .returning(ApiToken.id)
    )
    return len(result.all())


def live_token_count(session: Session, person: str) -> int:
    """How many unrevoked tokens ``person`` holds."""
    rows = session.scalars(
        select(ApiToken.id).where(ApiToken.person == person, ApiToken.revoked_at.is_(None))
    )
    return len(rows.all())


def live_token(session: Session, plan: Plan, token: str) -> ApiToken | None:
    """The stored row of ``token``; None if it is unknown, revoked, or its person has left
    the plan."""
    row = session.scalars(
        select(ApiToken).where(
            ApiToken.token_sha256 == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    ).first()
    return row if row is not None and row.person in plan.people else None


def live_token_id(session: Session, token_id: int) -> bool:
    """Whether the stored token ``token_id`` is still unrevoked (a dashboard session lives
    only as long as the token it was opened with)."""
    found = session.scalar(
        select(ApiToken.id).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    )
    return found is not None


def authenticate(session: Session, plan: Plan, token: str) -> Caller | None:
    """The caller a token stands for; None if it is unknown, revoked, or its person has
    left the plan."""
    row = live_token(session, plan, token)
    if row is None:
        return None
    return Caller(row.person, access_of(plan, row.person))
