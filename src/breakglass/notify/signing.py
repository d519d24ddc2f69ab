"""HMAC-SHA256 signatures of JSON webhook bodies, for senders and receivers.

The signature covers the exact body bytes. The body carries the same ``timestamp`` as the
``X-Breakglass-Timestamp`` header, so a receiver that checks the signature and then the
freshness of that field also refuses replays.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign_body", "verify_signature"]

SIGNATURE_HEADER = "X-Breakglass-Signature"
TIMESTAMP_HEADER = "X-Breakglass-Timestamp"
_PREFIX = "sha256="


def sign_body(body: bytes, key: str) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC-SHA256(key, body)>``."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"


def verify_signature(body: bytes, header: str, key: str) -> bool:
    """True when ``header`` is the signature of exactly ``body`` under ``key``.

    Compares in constant time; a missing prefix or a wrong length is simply false.
    """
    if not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign_body(body, key), header.strip())
