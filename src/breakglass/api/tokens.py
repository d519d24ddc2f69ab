"""API tokens, where the CLI (``breakglass token``) and callers of the API have always found
them; they live in :mod:`breakglass.webcore.tokens`, shared with the dashboard."""

from __future__ import annotations

from breakglass.webcore.tokens import (
    ACCESS_RANK,
    Caller,
    TokenError,
    access_of,
    authenticate,
    create_token,
    hash_token,
    live_token,
    live_token_count,
    live_token_id,
    revoke_tokens,
)

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
