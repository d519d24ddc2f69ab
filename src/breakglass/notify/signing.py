"""HMAC-SHA256 signatures of JSON webhook bodies, for senders and receivers.

The signature covers the exact body bytes. The body carries the same ``timestamp`` as the
``X-Breakglass-Timestamp`` header, so a receiver that checks the signature and then the
freshness of that field also refuses replays.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "OZ_SIGNATURE_HEADER",
    "OZ_TIMESTAMP_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign_body",
    "sign_oz_monitor",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Breakglass-Signature"
TIMESTAMP_HEADER = "X-Breakglass-Timestamp"
_PREFIX = "sha256="
OZ_SIGNATURE_HEADER = "X-Signature"
OZ_TIMESTAMP_HEADER = "X-Timestamp"


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


def sign_oz_monitor(body: bytes, timestamp_ms: str, key: str) -> str:
    """OpenZeppelin Monitor's webhook signature: hex HMAC-SHA256(key, body + timestamp), the
    timestamp in milliseconds as sent in ``X-Timestamp``; no prefix."""
    return hmac.new(key.encode(), body + timestamp_ms.encode(), hashlib.sha256).hexdigest()
