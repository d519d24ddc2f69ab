"""The API's permissions, where callers have always found them; they live in
:mod:`breakglass.webcore.security`, shared with the dashboard."""

from __future__ import annotations

from breakglass.webcore.security import (
    ADMIN,
    PUBLIC,
    RESPONDER,
    VIEWER,
    AppState,
    Permission,
    Public,
    Requires,
    permission_of,
    requires,
    state_of,
)

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
