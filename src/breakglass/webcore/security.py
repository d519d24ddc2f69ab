"""Permissions: every endpoint declares one, as a dependency.

``Depends(VIEWER)``, ``Depends(RESPONDER)`` or ``Depends(ADMIN)`` authenticate the bearer
token (401 without a valid one) and check the caller's access (403 below the level);
``Depends(PUBLIC)`` says on purpose that an endpoint needs no token. :func:`permission_of`
finds the declaration on a route, and the app refuses to start with a route lacking one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models import Access
from breakglass.webcore.tokens import Caller, authenticate

__all__ = [
    "ADMIN",
    "PUBLIC",
    "RESPONDER",
    "VIEWER",
    "AppState",
    "Permission",
    "Public",
    "Requires",
    "permission_of",
    "requires",
    "state_of",
]

_bearer = HTTPBearer(auto_error=False, description="An API token from `breakglass token create`.")


@dataclass(frozen=True)
class AppState:
    """What every request needs: the plan and the database."""

    loaded: LoadedPlan
    sessions: sessionmaker[Session]


def state_of(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.breakglass
    return state


class Permission:
    """Base of the permission dependencies; ``level`` None means public."""

    level: Access | None = None

    @property
    def name(self) -> str:
        """``public``, ``viewer``, ``responder`` or ``admin``."""
        return "public" if self.level is None else str(self.level)


class Public(Permission):
    """No token needed: the endpoint serves only public content."""

    def __call__(self) -> None:
        return None


class Requires(Permission):
    """A valid bearer token of a person with at least ``level`` access."""

    def __init__(self, level: Access) -> None:
        self.level = level

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        unauthorized = HTTPException(
            status_code=401,
            detail="a valid API token is needed: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
        if credentials is None or not credentials.credentials:
            raise unauthorized
        state = state_of(request)
        with state.sessions() as session:
            caller = authenticate(session, state.loaded.plan, credentials.credentials)
        if caller is None:
            raise unauthorized
        assert self.level is not None
        if not caller.may(self.level):
            raise HTTPException(
                status_code=403,
                detail=f"{caller.person} has {caller.access} access; this needs {self.level}",
            )
        return caller


def requires(level: Access) -> Requires:
    """The dependency that admits callers with at least ``level`` access."""
    return Requires(level)


PUBLIC = Public()
VIEWER = requires(Access.VIEWER)
RESPONDER = requires(Access.RESPONDER)
ADMIN = requires(Access.ADMIN)


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route declares (its first), or None if it declares none."""
    for dependant in route.dependant.dependencies:
        if isinstance(dependant.call, Permission):
            return dependant.call
    return None
