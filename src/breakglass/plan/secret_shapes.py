"""Secrets written into a plan by mistake, recognised by their shape.

A plan is shared, reviewed in pull requests and printed in reports, so a credential pasted
into it is leaked. Secrets belong in ``${ENV_VAR}`` references; these patterns find the ones
that did not get there: credentials in a URL (a password, an ``apikey=`` query, a provider
key in the path) and the shapes of known keys and tokens. :func:`secret_kind` names what a
value holds, never the value, so a report about a leak does not repeat it.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import parse_qsl, urlsplit

__all__ = ["looks_secret", "secret_kind", "url_secret_kind"]

_ENV_REF = re.compile(r"\$\{[A-Z_][A-Z0-9_]*\}")

# Known token shapes, anywhere in a value.
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Telegram bot token", re.compile(r"(?<![\w])\d{6,12}:[A-Za-z0-9_-]{30,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    (
        "a Slack webhook token",
        re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
    ),
    (
        "a Discord webhook token",
        re.compile(r"discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{30,}"),
    ),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)
_PRIVATE_KEY = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
# Query parameters that carry credentials, as RPC providers and webhooks name them.
_CREDENTIAL_PARAM = re.compile(
    r"^(?:x-)?(?:api[-_]?key|apikey|key|token|access[-_]?token|auth|authorization|secret|"
    r"client[-_]?secret|password|passwd|pass|pwd|sig|signature|private[-_]?key)$",
    re.IGNORECASE,
)
# A path segment that is an access key (Alchemy /v2/<key>, Infura /v3/<key>, QuickNode,
# Ankr): long, mixing letters and digits; an address or a hash is not one.
_KEY_SEGMENT = re.compile(r"^(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}$")
_HEX_ID = re.compile(r"^0x[0-9a-fA-F]+$")
_SEED_WORDS = 12
_URL_LIKE = re.compile(r"^[^\s]*[?@][^\s]*$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


@cache
def _wordlist() -> frozenset[str]:
    from eth_account.hdaccount.mnemonic import Mnemonic  # noqa: PLC0415 - rarely needed
    from eth_account.types import Language  # noqa: PLC0415

    return frozenset(Mnemonic(Language.ENGLISH).wordlist)


def _has_seed_phrase(text: str) -> bool:
    """Twelve or more BIP-39 words in a row: a recovery phrase, checksum or not (a phrase
    with a typo is leaked all the same)."""
    if len(text) < _SEED_WORDS * 3:
        return False
    words = _wordlist()
    run = 0
    for word in re.split(r"[\s,;]+", text.lower()):
        run = run + 1 if word in words else 0
        if run >= _SEED_WORDS:
            return True
    return False


def url_secret_kind(url: str) -> str | None:
    """What credential a URL carries literally (not as a ``${VAR}``), or ``None``."""
    literal = _ENV_REF.sub("", url)
    if "://" not in literal:  # a mistyped scheme (``htps//``) leaks its key all the same
        literal = "//" + literal
    try:
        parts = urlsplit(literal)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return None
    if password:
        return "a password in the URL"
    for name, value in query:
        if _CREDENTIAL_PARAM.match(name) and len(value) >= 6:
            return f"a credential in the URL's {name!r} query parameter"
    for segment in parts.path.split("/"):
        if _KEY_SEGMENT.match(segment) and not _HEX_ID.match(segment):
            return "an access key in the URL's path"
    return None


def secret_kind(value: str, *, free_text: bool = True) -> str | None:
    """What secret ``value`` holds, in words (never the secret itself), or ``None``.

    Args:
        value: any string of the plan.
        free_text: also look for private keys and recovery phrases, which are only
            suspicious in prose (a bytes32 role or a hash is 64 hex digits too).
    """
    literal = _ENV_REF.sub("", value)
    for kind, pattern in _TOKENS:
        if pattern.search(literal):
            return kind
    urls = _URL.findall(value) or ([value] if _URL_LIKE.match(value) else [])
    for url in urls:
        found = url_secret_kind(url)
        if found is not None:
            return found
    if free_text:
        if _PRIVATE_KEY.search(literal):
            return "a private key (64 hex digits)"
        if _has_seed_phrase(literal):
            return "a recovery phrase (12 or more BIP-39 words)"
    return None


def looks_secret(value: object) -> bool:
    """True when ``value`` may hold a secret, so a message must not show it."""
    return isinstance(value, str) and secret_kind(value) is not None
